/* placeholder, being written */
#include <obol/obol.h>
