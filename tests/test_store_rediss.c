/* The store-semantics suite on rediss://, against a redis-server of its
 * own that speaks only TLS, with certificates made for the run. */
#include "config.h"

#include <stdio.h>

#include "redis_harness.h"
#include "store_suite.h"

int main(void)
{
    redis_harness_options options = { .tls = REDIS_HARNESS_TLS_ONLY };
    redis_harness *redis;
    int failures;

    redis_harness_require();
    redis_harness_require_openssl();
    redis = redis_harness_start(&options);
    if (redis == NULL) {
        printf("Bail out! could not start redis-server with TLS\n");
        return 1;
    }
    failures = store_suite_run("store/rediss", redis_harness_url(redis));
    redis_harness_stop(redis);
    return failures == 0 ? 0 : 1;
}
