/* The store-semantics suite on the memory driver. Nothing to set up or
 * clean: each store the suite opens is private and lives in this process. */
#include "config.h"

#include "store_suite.h"

int main(void)
{
    return store_suite_run("store/memory", "memory:") == 0 ? 0 : 1;
}
