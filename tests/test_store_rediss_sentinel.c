/* The store-semantics and driver-contract suites on rediss+sentinel://:
 * a master, two replicas and three Sentinels of its own that speak only
 * TLS (replication and the Sentinels' own links too), with passwords of
 * their own for the data nodes and the Sentinels. */
#include "config.h"

#include <stdio.h>

#include "redis_harness.h"
#include "redis_sentinel.h"
#include "store_suite.h"

int main(void)
{
    redis_sentinel_options options = REDIS_SENTINEL_OPTIONS_INIT;
    redis_sentinel *sentinel;
    char url[2048];
    int failures;

    redis_harness_require();
    redis_harness_require_openssl();
    options.tls = 1;
    sentinel = redis_sentinel_start(&options);
    if (sentinel == NULL) {
        printf("Bail out! could not start redis-server and Sentinels with "
               "TLS\n");
        return 1;
    }
    /* Room for TLS handshakes under valgrind (make check-valgrind), which
     * take hundreds of milliseconds there: a Sentinel's 300 ms and a
     * call's 1000 ms are for real servers, not for memcheck. */
    snprintf(url, sizeof url, "%s&sentinel_timeout_ms=3000&timeout_ms=5000",
             redis_sentinel_url(sentinel));
    failures = store_suite_run("store/rediss-sentinel", url);
    redis_sentinel_stop(sentinel);
    return failures == 0 ? 0 : 1;
}
