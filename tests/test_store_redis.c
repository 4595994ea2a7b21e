/* The store-semantics suite on the Redis driver, against a redis-server of
 * its own on a free loopback port. */
#include "config.h"

#include <stdio.h>

#include "redis_harness.h"
#include "store_suite.h"

int main(void)
{
    redis_harness *redis;
    int failures;

    redis_harness_require();
    redis = redis_harness_start(NULL);
    if (redis == NULL) {
        printf("Bail out! could not start redis-server\n");
        return 1;
    }
    failures = store_suite_run("store/redis", redis_harness_url(redis));
    redis_harness_stop(redis);
    return failures == 0 ? 0 : 1;
}
