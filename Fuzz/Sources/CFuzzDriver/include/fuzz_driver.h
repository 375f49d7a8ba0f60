#ifndef SEALSTREAM_FUZZ_DRIVER_H
#define SEALSTREAM_FUZZ_DRIVER_H

/// Runs libFuzzer's driver over the target's LLVMFuzzerTestOneInput with the process's
/// arguments. SwiftPM links an executable with `main` renamed to `<Module>_main`, so
/// libFuzzer's own `main` is never linked; each target's `<Module>_main` calls this.
int sealstream_fuzz_run(int argc, char **argv);

#endif
