#ifndef SEALSTREAM_CSODIUM_SHIM_H
#define SEALSTREAM_CSODIUM_SHIM_H
#include <sodium.h>
#endif
