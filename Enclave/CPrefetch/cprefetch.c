// Header-only (include/cprefetch.h); SwiftPM needs one source file per C target.
#include "cprefetch.h"
