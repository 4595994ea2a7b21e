/* A private redis-server for tests and benchmarks; see redis_harness.h. */
#define _DEFAULT_SOURCE /* mkdtemp */
#define _POSIX_C_SOURCE 200809L
#include "config.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "redis_harness.h"

struct redis_harness {
    char server[PATH_MAX];
    char dir[200];
    char socket_path[PATH_MAX];
    char url[64];
    char *requirepass;
    char *extra_args[REDIS_HARNESS_EXTRA_ARGS_MAX + 1]; /* NULL-terminated */
    char config_path[PATH_MAX];  /* "" when no config file */
    int bus_port_free;       /* the port P was chosen with P+10000 free */
    uint16_t port;
    pid_t pid;               /* 0 when not running */
    int paused;              /* stopped by redis_harness_pause() */
    int tls;                 /* 0, REDIS_HARNESS_TLS_ONLY or _BESIDE */
    int tls_auth_clients;
    int tls_peers;
    uint16_t tls_port;
    char tls_dir[PATH_MAX];  /* the certificates */
    char tls_url[PATH_MAX + 64];
};

int redis_harness_is_executable(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
           access(path, X_OK) == 0;
}

int redis_harness_find_program(const char *env_name, const char *name,
                               char *out, size_t size)
{
    const char *env = getenv(env_name);

    if (env != NULL && env[0] != '\0') {
        snprintf(out, size, "%s", env);
        return redis_harness_is_executable(out) ? 0 : -1;
    }
    for (const char *dir = getenv("PATH"); dir != NULL && *dir != '\0';) {
        size_t len = strcspn(dir, ":");
        snprintf(out, size, "%.*s/%s", (int)len, len > 0 ? dir : ".", name);
        if (redis_harness_is_executable(out))
            return 0;
        dir += len;
        if (*dir == ':')
            dir++;
    }
    return -1;
}

static int find_server(char *out, size_t size)
{
    return redis_harness_find_program("REDIS_SERVER", "redis-server", out,
                                      size);
}

const char *redis_harness_require(void)
{
    static char server[PATH_MAX];
    const char *ci = getenv("CI");

    if (find_server(server, sizeof server) == 0)
        return server;
    if (ci != NULL && strcmp(ci, "true") == 0) {
        printf("Bail out! redis-server not found (REDIS_SERVER='%s') and "
               "CI=true: Redis tests must run in CI\n",
               getenv("REDIS_SERVER") ? getenv("REDIS_SERVER") : "");
        fflush(stdout);
        exit(1);
    }
    printf("1..0 # SKIP redis-server not found (set REDIS_SERVER or PATH)\n");
    fprintf(stderr, "*** redis-server not found: the Redis tests did NOT "
                    "run ***\n");
    fflush(stdout);
    exit(0);
}

/* ------------------------------------------------------ certificates */

void redis_harness_print_file(const char *path)
{
    char line[512];
    FILE *file = fopen(path, "r");

    if (file == NULL)
        return;
    fprintf(stderr, "--- %s:\n", path);
    while (fgets(line, sizeof line, file) != NULL)
        fprintf(stderr, "    %s", line);
    fclose(file);
}

static int find_openssl(char *out, size_t size)
{
    return redis_harness_find_program("OPENSSL", "openssl", out, size);
}

void redis_harness_require_openssl(void)
{
    char openssl[PATH_MAX];
    const char *ci = getenv("CI");

    if (find_openssl(openssl, sizeof openssl) == 0)
        return;
    if (ci != NULL && strcmp(ci, "true") == 0) {
        printf("Bail out! openssl not found and CI=true: the TLS tests "
               "must run in CI\n");
        fflush(stdout);
        exit(1);
    }
    printf("1..0 # SKIP openssl not found (set OPENSSL or PATH)\n");
    fprintf(stderr, "*** openssl not found: the TLS tests did NOT run ***\n");
    fflush(stdout);
    exit(0);
}

/* Extensions for the certificates; -subj gives each its name. */
static const char certs_config[] =
    "[req]\n"
    "distinguished_name = dn\n"
    "[dn]\n"
    "[ca]\n"
    "basicConstraints = critical, CA:TRUE\n"
    "keyUsage = critical, keyCertSign, cRLSign\n"
    "subjectKeyIdentifier = hash\n"
    "[server]\n"
    "basicConstraints = CA:FALSE\n"
    "keyUsage = critical, digitalSignature\n"
    "extendedKeyUsage = serverAuth, clientAuth\n"
    "subjectAltName = IP:127.0.0.1, DNS:localhost\n"
    "[client]\n"
    "basicConstraints = CA:FALSE\n"
    "keyUsage = critical, digitalSignature\n"
    "extendedKeyUsage = clientAuth\n";

static int write_file(const char *dir, const char *name, const char *text)
{
    char path[PATH_MAX + 64];
    FILE *file;
    int status;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    file = fopen(path, "w");
    if (file == NULL)
        return -1;
    status = fputs(text, file) == EOF ? -1 : 0;
    return fclose(file) == 0 ? status : -1;
}

/* dst = the concatenation of the PEM files a and b, all in dir. */
static int concat_files(const char *dir, const char *dst, const char *a,
                        const char *b)
{
    char path[PATH_MAX + 64], text[8192];
    size_t used = 0;

    for (int k = 0; k < 2; k++) {
        FILE *file;
        snprintf(path, sizeof path, "%s/%s", dir, k == 0 ? a : b);
        file = fopen(path, "r");
        if (file == NULL)
            return -1;
        used += fread(text + used, 1, sizeof text - 1 - used, file);
        fclose(file);
    }
    text[used] = '\0';
    return write_file(dir, dst, text);
}

/* Runs openssl with args (NULL-terminated) in dir, its output appended to
 * dir/openssl.log; 0 when it exited with 0. */
static int run_openssl(const char *openssl, const char *dir,
                       const char *const *args)
{
    const char *argv[32];
    char log_path[PATH_MAX + 16];
    int argc = 0, wstatus;
    pid_t child;

    argv[argc++] = openssl;
    while (*args != NULL && argc < 31)
        argv[argc++] = *args++;
    argv[argc] = NULL;
    snprintf(log_path, sizeof log_path, "%s/openssl.log", dir);
    fflush(stdout);
    fflush(stderr);
    child = fork();
    if (child == 0) {
        int log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
        int null_fd = open("/dev/null", O_RDONLY);
        if (log_fd >= 0) {
            dup2(log_fd, STDOUT_FILENO);
            dup2(log_fd, STDERR_FILENO);
        }
        if (null_fd >= 0)
            dup2(null_fd, STDIN_FILENO);
        if (chdir(dir) == 0)
            execv(openssl, (char *const *)argv);
        _exit(127);
    }
    if (child < 0 || waitpid(child, &wstatus, 0) != child)
        return -1;
    return WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0 ? 0 : -1;
}

/* A self-signed CA: name.key and name.crt. */
static int make_ca(const char *openssl, const char *dir, const char *name,
                   const char *subject)
{
    char key[64], crt[64];
    const char *args[] = { "req", "-x509", "-new", "-newkey", "ec",
                           "-pkeyopt", "ec_paramgen_curve:prime256v1",
                           "-nodes", "-keyout", key, "-out", crt, "-config",
                           "certs.cnf", "-extensions", "ca", "-subj", subject,
                           "-days", "2", "-sha256", NULL };

    snprintf(key, sizeof key, "%s.key", name);
    snprintf(crt, sizeof crt, "%s.crt", name);
    return run_openssl(openssl, dir, args);
}

/* name.key, and name.crt signed by the CA ca with the extensions of
 * section. */
static int make_leaf(const char *openssl, const char *dir, const char *name,
                     const char *subject, const char *ca,
                     const char *section, const char *serial)
{
    char key[64], csr[64], crt[64], ca_crt[64], ca_key[64];
    const char *request[] = { "req", "-new", "-newkey", "ec", "-pkeyopt",
                              "ec_paramgen_curve:prime256v1", "-nodes",
                              "-keyout", key, "-out", csr, "-config",
                              "certs.cnf", "-subj", subject, NULL };
    const char *sign[] = { "x509", "-req", "-in", csr, "-CA", ca_crt,
                           "-CAkey", ca_key, "-set_serial", serial, "-days",
                           "2", "-sha256", "-extfile", "certs.cnf",
                           "-extensions", section, "-out", crt, NULL };

    snprintf(key, sizeof key, "%s.key", name);
    snprintf(csr, sizeof csr, "%s.csr", name);
    snprintf(crt, sizeof crt, "%s.crt", name);
    snprintf(ca_crt, sizeof ca_crt, "%s.crt", ca);
    snprintf(ca_key, sizeof ca_key, "%s.key", ca);
    if (run_openssl(openssl, dir, request) != 0)
        return -1;
    return run_openssl(openssl, dir, sign);
}

int redis_harness_make_certs(const char *dir)
{
    static const char *const locked_key[] = {
        "pkey", "-in", "client.key", "-aes256", "-passout", "pass:obol",
        "-out", "client-locked.key", NULL
    };
    char openssl[PATH_MAX], log_path[PATH_MAX + 16];

    if (find_openssl(openssl, sizeof openssl) != 0) {
        fprintf(stderr, "redis harness: openssl not found (set OPENSSL or "
                        "PATH)\n");
        return -1;
    }
    if (write_file(dir, "certs.cnf", certs_config) == 0 &&
        make_ca(openssl, dir, "ca", "/CN=obol test CA") == 0 &&
        make_ca(openssl, dir, "client-ca", "/CN=obol test client CA") == 0 &&
        make_ca(openssl, dir, "other-ca", "/CN=obol other CA") == 0 &&
        make_leaf(openssl, dir, "server", "/CN=localhost", "ca", "server",
                  "1") == 0 &&
        make_leaf(openssl, dir, "client", "/CN=obol test client",
                  "client-ca", "client", "2") == 0 &&
        run_openssl(openssl, dir, locked_key) == 0 &&
        concat_files(dir, "trusted.crt", "ca.crt", "client-ca.crt") == 0)
        return 0;
    fprintf(stderr, "redis harness: making certificates in %s failed\n",
            dir);
    snprintf(log_path, sizeof log_path, "%s/openssl.log", dir);
    redis_harness_print_file(log_path);
    return -1;
}

/* Asks the kernel for a free loopback port. Another process could take it
 * before the server binds it; starting is retried with a new port then. */
static int free_port(uint16_t *port)
{
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int status = -1;

    if (fd < 0)
        return -1;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0 &&
        getsockname(fd, (struct sockaddr *)&addr, &len) == 0) {
        *port = ntohs(addr.sin_port);
        status = 0;
    }
    close(fd);
    return status;
}

/* Whether a listening socket could bind 127.0.0.1:port now. SO_REUSEADDR,
 * as redis-server sets it, so that a closed connection lingering in
 * TIME_WAIT on that port does not count as taken. */
static int port_is_free(unsigned port)
{
    struct sockaddr_in addr;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int yes = 1;
    int is_free;

    if (fd < 0)
        return 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons((uint16_t)port);
    is_free = bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0;
    close(fd);
    return is_free;
}

/* A cluster node also listens on its port + 10000 (the cluster bus), so
 * both must be free. The kernel picks the first; a pick whose bus port is
 * out of range or taken is thrown back. */
static int free_port_with_bus(uint16_t *port)
{
    for (int attempt = 0; attempt < 50; attempt++) {
        if (free_port(port) != 0)
            return -1;
        if (*port <= 65535 - 10000 && port_is_free(*port + 10000u))
            return 0;
    }
    return -1;
}

static int pick_port(redis_harness *h)
{
    int status = h->bus_port_free ? free_port_with_bus(&h->port)
                                  : free_port(&h->port);

    h->tls_port = h->tls == REDIS_HARNESS_TLS_ONLY ? h->port : 0;
    if (status == 0 && h->tls == REDIS_HARNESS_TLS_BESIDE &&
        (free_port(&h->tls_port) != 0 || h->tls_port == h->port))
        status = -1;
    return status;
}

static void print_log_tail(const redis_harness *h)
{
    char path[PATH_MAX + 16];

    snprintf(path, sizeof path, "%s/redis.log", h->dir);
    redis_harness_print_file(path);
}

void redis_harness_print_log_tail(const redis_harness *h, int lines)
{
    char path[PATH_MAX + 16], line[512];
    long total = 0, seen = 0;
    FILE *file;

    snprintf(path, sizeof path, "%s/redis.log", h->dir);
    file = fopen(path, "r");
    if (file == NULL)
        return;
    /* Two passes, counting then printing: simpler than a ring of lines,
     * and a test server's log is short. */
    while (fgets(line, sizeof line, file) != NULL)
        total++;
    rewind(file);
    fprintf(stderr, "--- %s (last %d lines):\n", path, lines);
    while (fgets(line, sizeof line, file) != NULL)
        if (seen++ >= total - lines)
            fprintf(stderr, "    %s", line);
    fclose(file);
}

static void spawn(redis_harness *h)
{
    char port[16], log_path[PATH_MAX + 16];
    char tls_port[16], tls_files[3][PATH_MAX + 32];
    const char *argv[48 + REDIS_HARNESS_EXTRA_ARGS_MAX];
    int argc = 0;
    int null_fd;

    snprintf(port, sizeof port, "%u", h->port);
    snprintf(log_path, sizeof log_path, "%s/redis.log", h->dir);
    argv[argc++] = h->server;
    if (h->config_path[0] != '\0')
        argv[argc++] = h->config_path;
    argv[argc++] = "--port";
    argv[argc++] = port;
    argv[argc++] = "--bind";
    argv[argc++] = "127.0.0.1";
    argv[argc++] = "--save";
    argv[argc++] = "";
    argv[argc++] = "--appendonly";
    argv[argc++] = "no";
    argv[argc++] = "--dir";
    argv[argc++] = h->dir;
    argv[argc++] = "--unixsocket";
    argv[argc++] = h->socket_path;
    argv[argc++] = "--unixsocketperm";
    argv[argc++] = "700";
    argv[argc++] = "--daemonize";
    argv[argc++] = "no";
    argv[argc++] = "--logfile";
    argv[argc++] = log_path;
    if (h->requirepass != NULL) {
        argv[argc++] = "--requirepass";
        argv[argc++] = h->requirepass;
    }
    if (h->tls != 0) {
        snprintf(tls_port, sizeof tls_port, "%u", h->tls_port);
        snprintf(tls_files[0], sizeof tls_files[0], "%s/server.crt",
                 h->tls_dir);
        snprintf(tls_files[1], sizeof tls_files[1], "%s/server.key",
                 h->tls_dir);
        snprintf(tls_files[2], sizeof tls_files[2], "%s/%s", h->tls_dir,
                 h->tls_peers ? "trusted.crt" : "client-ca.crt");
        argv[argc++] = "--tls-port";
        argv[argc++] = tls_port;
        if (h->tls == REDIS_HARNESS_TLS_ONLY) {
            /* The later --port wins over the harness's first. */
            argv[argc++] = "--port";
            argv[argc++] = "0";
        }
        argv[argc++] = "--tls-cert-file";
        argv[argc++] = tls_files[0];
        argv[argc++] = "--tls-key-file";
        argv[argc++] = tls_files[1];
        argv[argc++] = "--tls-ca-cert-file";
        argv[argc++] = tls_files[2];
        argv[argc++] = "--tls-auth-clients";
        argv[argc++] = h->tls_auth_clients ? "yes" : "no";
    }
    for (int i = 0; h->extra_args[i] != NULL; i++)
        argv[argc++] = h->extra_args[i];
    argv[argc] = NULL;

    null_fd = open("/dev/null", O_RDWR);
    if (null_fd >= 0) {
        dup2(null_fd, STDIN_FILENO);
        dup2(null_fd, STDOUT_FILENO);
        close(null_fd);
    }
    execv(h->server, (char *const *)argv);
    fprintf(stderr, "redis harness: exec %s: %s\n", h->server,
            strerror(errno));
    _exit(127);
}

static redisContext *connect_client(const redis_harness *h, int timeout_ms)
{
    struct timeval tv = { timeout_ms / 1000, timeout_ms % 1000 * 1000 };
    /* hiredis 0.14 speaks no TLS: a TLS-only server is reached through
     * its unix socket. */
    redisContext *c = h->tls == REDIS_HARNESS_TLS_ONLY
                          ? redisConnectUnixWithTimeout(h->socket_path, tv)
                          : redisConnectWithTimeout("127.0.0.1", h->port, tv);

    if (c == NULL)
        return NULL;
    if (c->err != 0) {
        redisFree(c);
        return NULL;
    }
    if (h->requirepass != NULL) {
        redisReply *r = redisCommand(c, "AUTH %s", h->requirepass);
        int ok = r != NULL && r->type == REDIS_REPLY_STATUS;
        if (r != NULL)
            freeReplyObject(r);
        if (!ok) {
            redisFree(c);
            return NULL;
        }
    }
    return c;
}

void redis_harness_sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, ms % 1000 * 1000000L };

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

double redis_harness_monotonic_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* Waits up to 10 s for PONG; -1 if the server died or never answered. */
static int wait_ready(redis_harness *h)
{
    for (int attempt = 0; attempt < 200; attempt++) {
        int wstatus;
        redisContext *c;

        if (waitpid(h->pid, &wstatus, WNOHANG) == h->pid) {
            h->pid = 0;
            return -1;
        }
        c = connect_client(h, 200);
        if (c != NULL) {
            redisReply *r = redisCommand(c, "PING");
            int ok = r != NULL && r->type == REDIS_REPLY_STATUS &&
                     strcmp(r->str, "PONG") == 0;
            if (r != NULL)
                freeReplyObject(r);
            redisFree(c);
            if (ok)
                return 0;
        }
        redis_harness_sleep_ms(50);
    }
    return -1;
}

static int launch(redis_harness *h)
{
    fflush(stdout);
    fflush(stderr);
    h->pid = fork();
    if (h->pid < 0) {
        h->pid = 0;
        return -1;
    }
    if (h->pid == 0)
        spawn(h);
    if (wait_ready(h) == 0)
        return 0;
    if (h->pid != 0) {
        kill(h->pid, SIGKILL);
        waitpid(h->pid, NULL, 0);
        h->pid = 0;
    }
    return -1;
}

static const char *temp_root(void)
{
    const char *tmp = getenv("TMPDIR");

    /* A unix socket path is limited to about 100 bytes. */
    if (tmp != NULL && tmp[0] == '/' && strlen(tmp) < 60)
        return tmp;
    return "/tmp";
}

/* The server's directory and what it made there, subdirectories too:
 * with --appendonly yes, Redis 7 keeps its files in appendonlydir/. */
static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *entry;

    if (d == NULL)
        return;
    while ((entry = readdir(d)) != NULL) {
        char path[PATH_MAX + 256];
        struct stat st;

        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, entry->d_name);
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
            remove_dir(path);
        else
            unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static void free_settings(redis_harness *h)
{
    free(h->requirepass);
    for (int i = 0; h->extra_args[i] != NULL; i++)
        free(h->extra_args[i]);
}

/* Copies what the caller passed, since a restart needs it again. */
static int copy_settings(redis_harness *h,
                         const redis_harness_options *options)
{
    const char *const *extra;
    int count = 0;

    if (options == NULL)
        return 0;
    if (options->requirepass != NULL)
        h->requirepass = strdup(options->requirepass);
    h->bus_port_free = options->bus_port_free;
    h->tls = options->tls;
    h->tls_auth_clients = options->tls_auth_clients;
    h->tls_peers = options->tls_peers;
    if (options->tls_dir != NULL)
        snprintf(h->tls_dir, sizeof h->tls_dir, "%s", options->tls_dir);
    for (extra = options->extra_args; extra != NULL && *extra != NULL;
         extra++) {
        if (count == REDIS_HARNESS_EXTRA_ARGS_MAX) {
            fprintf(stderr, "redis harness: more than %d extra arguments\n",
                    REDIS_HARNESS_EXTRA_ARGS_MAX);
            return -1;
        }
        h->extra_args[count] = strdup(*extra);
        if (h->extra_args[count++] == NULL)
            return -1;
    }
    return 0;
}

/* The config file of options->config_text, in the server's directory. */
static int write_config(redis_harness *h, const char *text)
{
    FILE *file;

    snprintf(h->config_path, sizeof h->config_path, "%s/redis.conf", h->dir);
    file = fopen(h->config_path, "w");
    if (file == NULL || fputs(text, file) == EOF) {
        fprintf(stderr, "redis harness: writing %s: %s\n", h->config_path,
                strerror(errno));
        if (file != NULL)
            fclose(file);
        return -1;
    }
    return fclose(file) == 0 ? 0 : -1;
}

redis_harness *redis_harness_start(const redis_harness_options *options)
{
    redis_harness *h = calloc(1, sizeof *h);

    if (h == NULL)
        return NULL;
    if (find_server(h->server, sizeof h->server) != 0) {
        fprintf(stderr, "redis harness: redis-server not found\n");
        free(h);
        return NULL;
    }
    if (copy_settings(h, options) != 0) {
        free_settings(h);
        free(h);
        return NULL;
    }
    snprintf(h->dir, sizeof h->dir, "%s/obol-redis-XXXXXX",
             options != NULL && options->dir_parent != NULL
                 ? options->dir_parent
                 : temp_root());
    if (mkdtemp(h->dir) == NULL) {
        fprintf(stderr, "redis harness: mkdtemp %s: %s\n", h->dir,
                strerror(errno));
        free_settings(h);
        free(h);
        return NULL;
    }
    if (h->tls != 0 && h->tls_dir[0] == '\0') {
        snprintf(h->tls_dir, sizeof h->tls_dir, "%s", h->dir);
        if (redis_harness_make_certs(h->dir) != 0) {
            redis_harness_stop(h);
            return NULL;
        }
    }
    snprintf(h->socket_path, sizeof h->socket_path, "%s/redis.sock", h->dir);
    if (options != NULL && options->config_text != NULL &&
        write_config(h, options->config_text) != 0) {
        redis_harness_stop(h);
        return NULL;
    }

    for (int attempt = 0; attempt < 5; attempt++) {
        if (pick_port(h) != 0)
            continue;
        snprintf(h->url, sizeof h->url, "redis://127.0.0.1:%u", h->port);
        snprintf(h->tls_url, sizeof h->tls_url,
                 "rediss://127.0.0.1:%u?tls_ca=%s/ca.crt", h->tls_port,
                 h->tls_dir);
        if (launch(h) == 0)
            return h;
    }
    fprintf(stderr, "redis harness: %s did not start\n", h->server);
    print_log_tail(h);
    redis_harness_stop(h);
    return NULL;
}

int redis_harness_kill(redis_harness *h)
{
    if (h->pid == 0)
        return -1;
    kill(h->pid, SIGKILL);
    waitpid(h->pid, NULL, 0);
    h->pid = 0;
    h->paused = 0;
    return 0;
}

void redis_harness_stop(redis_harness *h)
{
    if (h == NULL)
        return;
    redis_harness_kill(h);
    remove_dir(h->dir);
    free_settings(h);
    free(h);
}

int redis_harness_restart(redis_harness *h)
{
    if (h->pid != 0)
        redis_harness_kill(h);
    if (launch(h) != 0) {
        fprintf(stderr, "redis harness: restart on port %u failed\n",
                h->port);
        print_log_tail(h);
        return -1;
    }
    return 0;
}

int redis_harness_pause(redis_harness *h)
{
    int status = h->pid != 0 ? kill(h->pid, SIGSTOP) : -1;

    if (status == 0)
        h->paused = 1;
    return status;
}

int redis_harness_resume(redis_harness *h)
{
    int status = h->pid != 0 ? kill(h->pid, SIGCONT) : -1;

    if (status == 0)
        h->paused = 0;
    return status;
}

int redis_harness_state(const redis_harness *h)
{
    if (h->pid == 0)
        return REDIS_HARNESS_DOWN;
    return h->paused ? REDIS_HARNESS_PAUSED : REDIS_HARNESS_UP;
}

const char *redis_harness_dir(const redis_harness *h)
{
    return h->dir;
}

uint16_t redis_harness_port(const redis_harness *h)
{
    return h->port;
}

const char *redis_harness_url(const redis_harness *h)
{
    return h->tls == REDIS_HARNESS_TLS_ONLY ? h->tls_url : h->url;
}

uint16_t redis_harness_tls_port(const redis_harness *h)
{
    return h->tls_port;
}

const char *redis_harness_tls_url(const redis_harness *h)
{
    return h->tls != 0 ? h->tls_url : NULL;
}

const char *redis_harness_tls_dir(const redis_harness *h)
{
    return h->tls != 0 ? h->tls_dir : NULL;
}

const char *redis_harness_socket(const redis_harness *h)
{
    return h->socket_path;
}

redisContext *redis_harness_client(const redis_harness *h)
{
    redisContext *c = connect_client(h, 2000);
    struct timeval tv = { 5, 0 };

    if (c != NULL)
        redisSetTimeout(c, tv);
    return c;
}

redisContext *redis_harness_client_timeout(const redis_harness *h,
                                           int timeout_ms)
{
    redisContext *c = connect_client(h, timeout_ms);
    struct timeval tv = { timeout_ms / 1000, timeout_ms % 1000 * 1000 };

    if (c != NULL)
        redisSetTimeout(c, tv);
    return c;
}

redisReply *redis_harness_command(redisContext *c, const char *format, ...)
{
    va_list ap;
    redisReply *reply;

    if (c == NULL)
        return NULL;
    va_start(ap, format);
    reply = redisvCommand(c, format, ap);
    va_end(ap);
    return reply;
}

int redis_harness_run(redisContext *c, const char *format, ...)
{
    va_list ap;
    redisReply *reply;
    int status;

    if (c == NULL)
        return -1;
    va_start(ap, format);
    reply = redisvCommand(c, format, ap);
    va_end(ap);
    status = reply != NULL && reply->type != REDIS_REPLY_ERROR ? 0 : -1;
    if (reply != NULL && status != 0)
        fprintf(stderr, "redis harness: %s: %s\n", format, reply->str);
    freeReplyObject(reply);
    return status;
}

long long redis_harness_integer(redisContext *c, const char *format, ...)
{
    va_list ap;
    redisReply *reply;
    long long value = REDIS_HARNESS_NO_INTEGER;

    if (c == NULL)
        return value;
    va_start(ap, format);
    reply = redisvCommand(c, format, ap);
    va_end(ap);
    if (reply != NULL && reply->type == REDIS_REPLY_INTEGER)
        value = reply->integer;
    freeReplyObject(reply);
    return value;
}

void redis_harness_key_names(const char *prefix, const char *user,
                             const char *type,
                             char names[3][REDIS_HARNESS_KEY_MAX])
{
    static const char *const suffix[3] = { "rec", "exp", "lock" };

    for (int k = 0; k < 3; k++)
        snprintf(names[k], REDIS_HARNESS_KEY_MAX, "%s:{%s:%s}:%s", prefix,
                 user, type, suffix[k]);
}

int redis_harness_keys_left(redisContext *c, const char *prefix,
                            const char *user, const char *type)
{
    char names[3][REDIS_HARNESS_KEY_MAX];
    int left = 0;

    redis_harness_key_names(prefix, user, type, names);
    for (int k = 0; k < 3; k++) {
        long long exists = redis_harness_integer(c, "EXISTS %s", names[k]);
        if (exists == REDIS_HARNESS_NO_INTEGER)
            return -1;
        if (exists != 0) {
            fprintf(stderr, "%s still exists\n", names[k]);
            left++;
        }
    }
    return left;
}

struct redis_harness_monitor {
    redisContext *monitor;   /* in MONITOR mode */
    redisContext *marker;    /* sends the ECHO that ends the count */
};

static void monitor_free(redis_harness_monitor *m)
{
    if (m == NULL)
        return;
    if (m->monitor != NULL)
        redisFree(m->monitor);
    if (m->marker != NULL)
        redisFree(m->marker);
    free(m);
}

redis_harness_monitor *redis_harness_monitor_begin(const redis_harness *h)
{
    redis_harness_monitor *m = calloc(1, sizeof *m);
    redisReply *reply;
    int ok;

    if (m == NULL)
        return NULL;
    /* Both connect (and log in) before MONITOR starts: a login would
     * count as a command. */
    m->marker = redis_harness_client(h);
    m->monitor = redis_harness_client(h);
    reply = m->marker != NULL ? redis_harness_command(m->monitor, "MONITOR")
                              : NULL;
    ok = reply != NULL && reply->type == REDIS_REPLY_STATUS;
    freeReplyObject(reply);
    if (!ok) {
        monitor_free(m);
        return NULL;
    }
    return m;
}

/* Reads monitor lines up to the marker; the count, or -1. */
static int count_until_marker(redisContext *monitor, const char *marker)
{
    int commands = 0;

    for (;;) {
        void *reply = NULL;
        const char *line;
        int done;

        if (redisGetReply(monitor, &reply) != REDIS_OK)
            return -1;
        line = ((redisReply *)reply)->str;
        if (line == NULL) {
            freeReplyObject(reply);
            return -1;
        }
        done = strstr(line, marker) != NULL;
        if (!done && strstr(line, " lua]") == NULL)
            commands++;
        freeReplyObject(reply);
        if (done)
            return commands;
    }
}

int redis_harness_monitor_end(redis_harness_monitor *m)
{
    static const char marker[] = "obol-round-trip-marker";
    int commands = -1;

    if (m == NULL)
        return -1;
    if (redis_harness_run(m->marker, "ECHO %s", marker) == 0)
        commands = count_until_marker(m->monitor, marker);
    monitor_free(m);
    return commands;
}
