/* The config string of the LMDB driver:
 *     lmdb:///abs/dir?map_size=64MiB&max_readers=126&sync=full
 * (every option is described in docs/LMDB.md). */
#ifndef OBOL_LMDB_OPTIONS_H
#define OBOL_LMDB_OPTIONS_H

#include <obol/driver.h>

#include "lmdb_env.h"

/* Defaults of the options. */
#define LMDB_DEFAULT_MAP_SIZE ((size_t)64 << 20)
#define LMDB_MIN_MAP_SIZE ((size_t)16 << 10)
#define LMDB_MAX_READERS_LIMIT 65536

/* Checks config and fills settings; dir points into config. Returns
 * OBOL_OK or OBOL_ERR_INVALID with a message naming the offending part. */
int lmdb_options_parse(const obol_driver_config *config, const char **dir,
                       lmdb_env_settings *settings, obol_error *err);

#endif
