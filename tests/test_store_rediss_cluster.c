/* The store-semantics and driver-contract suites on rediss+cluster://,
 * against a six-node cluster of its own that speaks only TLS, to clients,
 * on its bus and between masters and replicas. */
#include "config.h"

#include <stdio.h>

#include "redis_cluster.h"
#include "redis_harness.h"
#include "store_suite.h"

int main(void)
{
    redis_cluster_options options = REDIS_CLUSTER_OPTIONS_INIT;
    redis_cluster *cluster;
    int failures;

    redis_harness_require();
    redis_harness_require_openssl();
    options.tls = 1;
    cluster = redis_cluster_start(&options);
    if (cluster == NULL) {
        printf("Bail out! could not start a redis cluster with TLS\n");
        return 1;
    }
    failures = store_suite_run("store/rediss-cluster",
                               redis_cluster_url(cluster));
    redis_cluster_stop(cluster);
    return failures == 0 ? 0 : 1;
}
