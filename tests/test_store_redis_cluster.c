/* The store-semantics and driver-contract suites on redis+cluster://,
 * against a six-node cluster of its own (three masters, three replicas)
 * on free loopback ports. */
#include "config.h"

#include <stdio.h>

#include "redis_cluster.h"
#include "redis_harness.h"
#include "store_suite.h"

int main(void)
{
    redis_cluster *cluster;
    int failures;

    redis_harness_require();
    cluster = redis_cluster_start(NULL);
    if (cluster == NULL) {
        printf("Bail out! could not start a redis cluster\n");
        return 1;
    }
    failures = store_suite_run("store/redis-cluster",
                               redis_cluster_url(cluster));
    redis_cluster_stop(cluster);
    return failures == 0 ? 0 : 1;
}
