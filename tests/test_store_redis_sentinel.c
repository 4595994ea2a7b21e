/* The store-semantics and driver-contract suites on redis+sentinel://,
 * against a master, two replicas and three Sentinels of its own on free
 * loopback ports (the data nodes and the Sentinels with passwords of
 * their own). */
#include "config.h"

#include <stdio.h>

#include "redis_harness.h"
#include "redis_sentinel.h"
#include "store_suite.h"

int main(void)
{
    redis_sentinel *sentinel;
    int failures;

    redis_harness_require();
    sentinel = redis_sentinel_start(NULL);
    if (sentinel == NULL) {
        printf("Bail out! could not start redis-server and Sentinels\n");
        return 1;
    }
    failures = store_suite_run("store/redis-sentinel",
                               redis_sentinel_url(sentinel));
    redis_sentinel_stop(sentinel);
    return failures == 0 ? 0 : 1;
}
