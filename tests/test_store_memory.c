/* The store-semantics suite on the memory driver. The suite opens several
 * stores on one config string and expects them to share a backend, so it
 * runs on a named space ("memory:suite"); nothing to set up or clean. */
#include "config.h"

#include "store_suite.h"

int main(void)
{
    return store_suite_run("store/memory", "memory:suite") == 0 ? 0 : 1;
}
