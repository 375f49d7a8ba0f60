// TPM 2.0 operations for the enclave over tpm2-tss ESAPI. See include/ctpm.h for the
// contract; docs/ATTESTATION.md §2–§3 for the design.
//
// Every function that touches the TPM follows one shape: create or load what it needs,
// do the work, and flush every transient object and session on every path (the `out:`
// label), keeping the first error. Objects loaded at once: at most two (a parent and its
// child) plus one session; swtpm has three object slots.
#define _GNU_SOURCE
#include "ctpm.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tcti_device.h>
#include <tss2/tss2_tcti_swtpm.h>

_Static_assert(sizeof(ctpm_rc) == sizeof(TSS2_RC), "ctpm_rc must be a TSS2_RC");
_Static_assert(CTPM_RC_BAD_REFERENCE == TSS2_ESYS_RC_BAD_REFERENCE, "rc mismatch");
_Static_assert(CTPM_RC_INSUFFICIENT_BUFFER == TSS2_ESYS_RC_INSUFFICIENT_BUFFER, "rc mismatch");
_Static_assert(CTPM_RC_BAD_SEQUENCE == TSS2_ESYS_RC_BAD_SEQUENCE, "rc mismatch");
_Static_assert(CTPM_RC_BAD_VALUE == TSS2_ESYS_RC_BAD_VALUE, "rc mismatch");
_Static_assert(CTPM_COUNTER_ATTRIBUTES == (TPMA_NV_AUTHWRITE | (TPM2_NT_COUNTER << TPMA_NV_TPM2_NT_SHIFT) |
                                           TPMA_NV_AUTHREAD | TPMA_NV_NO_DA), "counter attributes");
_Static_assert(CTPM_NV_WRITTEN == TPMA_NV_WRITTEN, "TPMA_NV_WRITTEN");
_Static_assert((CTPM_RC_LAYER & ~TSS2_RC_LAYER_MASK) == 0, "CTPM_RC_LAYER is a layer");
_Static_assert(CTPM_NAME_MAX >= sizeof(TPMU_NAME), "CTPM_NAME_MAX too small");
_Static_assert(CTPM_ATTEST_MAX >= sizeof(((TPM2B_ATTEST *)0)->attestationData), "CTPM_ATTEST_MAX too small");
_Static_assert(CTPM_PUBLIC_MAX >= sizeof(TPM2B_PUBLIC), "CTPM_PUBLIC_MAX too small");
_Static_assert(CTPM_PRIVATE_MAX >= 2 + sizeof(((TPM2B_PRIVATE *)0)->buffer), "CTPM_PRIVATE_MAX too small");
_Static_assert(CTPM_SIGNATURE_MAX >= sizeof(TPMT_SIGNATURE), "CTPM_SIGNATURE_MAX too small");
_Static_assert(CTPM_CREDENTIAL_MAX >= sizeof(((TPM2B_DIGEST *)0)->buffer), "CTPM_CREDENTIAL_MAX too small");

struct ctpm {
    TSS2_TCTI_CONTEXT *tcti;
    ESYS_CONTEXT *esys;
    /// Set by ctpm_create_ak: the AK's blobs (the private part is wrapped by the EK's
    /// seed-derived key and only loadable under that EK in this TPM) and its parent.
    int has_ak;
    /// The AK is a primary in the endorsement hierarchy (ctpm_create_primary_ak): it is
    /// regenerated from the endorsement seed for each quote instead of loaded.
    int ak_is_primary;
    uint32_t ak_parent_index;
    TPM2B_PUBLIC ak_public;
    TPM2B_PRIVATE ak_private;
};

// MARK: Helpers

static void wipe(void *p, size_t n) {
    if (p != NULL && n > 0) {
        explicit_bzero(p, n);
    }
}

/// Keeps the first error: `keep(&rc, f())` runs f and records its rc only if rc is 0.
static void keep(TSS2_RC *rc, TSS2_RC next) {
    if (*rc == TSS2_RC_SUCCESS) {
        *rc = next;
    }
}

/// Flushes a transient object or session (ignores ESYS_TR_NONE and the password
/// pseudo-session) and sets *h to ESYS_TR_NONE.
static TSS2_RC flush(ESYS_CONTEXT *esys, ESYS_TR *h) {
    if (*h == ESYS_TR_NONE || *h == ESYS_TR_PASSWORD) {
        return TSS2_RC_SUCCESS;
    }
    TSS2_RC rc = Esys_FlushContext(esys, *h);
    *h = ESYS_TR_NONE;
    return rc;
}

/// Copies n bytes to an in/out (buffer, capacity → length) pair.
static TSS2_RC put_bytes(const uint8_t *src, size_t n, uint8_t *out, size_t *len) {
    if (len == NULL || out == NULL) {
        return TSS2_ESYS_RC_BAD_REFERENCE;
    }
    if (*len < n) {
        *len = n;
        return TSS2_ESYS_RC_INSUFFICIENT_BUFFER;
    }
    memcpy(out, src, n);
    *len = n;
    return TSS2_RC_SUCCESS;
}

static TSS2_RC put_tpmt_public(const TPMT_PUBLIC *pub, uint8_t *out, size_t *len) {
    uint8_t buf[sizeof(TPMT_PUBLIC)];
    size_t off = 0;
    TSS2_RC rc = Tss2_MU_TPMT_PUBLIC_Marshal(pub, buf, sizeof buf, &off);
    if (rc != TSS2_RC_SUCCESS) {
        return rc;
    }
    return put_bytes(buf, off, out, len);
}

/// A SHA-256 bank selection of the given PCRs. `ascending` demands a strictly ascending
/// list; otherwise any order of distinct PCRs.
static TSS2_RC pcr_selection(const uint32_t *pcrs, size_t n, int ascending, TPML_PCR_SELECTION *sel) {
    if (pcrs == NULL) {
        return TSS2_ESYS_RC_BAD_REFERENCE;
    }
    if (n == 0 || n > CTPM_PCR_COUNT) {
        return TSS2_ESYS_RC_BAD_VALUE;
    }
    memset(sel, 0, sizeof *sel);
    sel->count = 1;
    sel->pcrSelections[0].hash = TPM2_ALG_SHA256;
    sel->pcrSelections[0].sizeofSelect = CTPM_PCR_COUNT / 8;
    for (size_t i = 0; i < n; i++) {
        uint32_t p = pcrs[i];
        if (p >= CTPM_PCR_COUNT) {
            return TSS2_ESYS_RC_BAD_VALUE;
        }
        if (ascending && i > 0 && p <= pcrs[i - 1]) {
            return TSS2_ESYS_RC_BAD_VALUE;
        }
        uint8_t bit = (uint8_t)(1u << (p % 8));
        if (sel->pcrSelections[0].pcrSelect[p / 8] & bit) {
            return TSS2_ESYS_RC_BAD_VALUE;
        }
        sel->pcrSelections[0].pcrSelect[p / 8] |= bit;
    }
    return TSS2_RC_SUCCESS;
}

static TSS2_RC single_pcr_selection(uint32_t pcr, TPML_PCR_SELECTION *sel) {
    return pcr_selection(&pcr, 1, 1, sel);
}

// MARK: Templates

/// TCG EK Credential Profile: PolicyA (PolicySecret(TPM_RH_ENDORSEMENT)), SHA-256.
static const uint8_t POLICY_A_SHA256[32] = {
    0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xb3, 0xf8, 0x1a, 0x90, 0xcc, 0x8d, 0x46, 0xa5, 0xd7, 0x24,
    0xfd, 0x52, 0xd7, 0x6e, 0x06, 0x52, 0x0b, 0x64, 0xf2, 0xa1, 0xda, 0x1b, 0x33, 0x14, 0x69, 0xaa,
};

/// TCG EK Credential Profile 2.x: PolicyB (PolicyOR of PolicyA and PolicyC), SHA-384, the
/// authPolicy of the high-range SHA-384 templates (the value swtpm_setup uses).
static const uint8_t POLICY_B_SHA384[48] = {
    0xb2, 0x6e, 0x7d, 0x28, 0xd1, 0x1a, 0x50, 0xbc, 0x53, 0xd8, 0x82, 0xbc, 0xf5, 0xfd, 0x3a, 0x1a,
    0x07, 0x41, 0x48, 0xbb, 0x35, 0xd3, 0xb4, 0xe4, 0xcb, 0x1c, 0x0a, 0xd9, 0xbd, 0xe4, 0x19, 0xca,
    0xcb, 0x47, 0xba, 0x09, 0x69, 0x96, 0x46, 0x15, 0x0f, 0x9f, 0xc0, 0x00, 0xf3, 0xf8, 0x0e, 0x12,
};

/// The EK template that belongs to an EK certificate index. *policy_only is 1 when the
/// EK has no userWithAuth, so using it as a parent needs a PolicySecret(endorsement)
/// session (templates L-1 and L-2); 0 when the empty password works (H-3).
static TSS2_RC ek_template(uint32_t index, TPM2B_PUBLIC *tmpl, int *policy_only) {
    memset(tmpl, 0, sizeof *tmpl);
    TPMT_PUBLIC *p = &tmpl->publicArea;
    const TPMA_OBJECT low = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
                            TPMA_OBJECT_ADMINWITHPOLICY | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
    switch (index) {
    case CTPM_EK_CERT_RSA2048: // L-1
        p->type = TPM2_ALG_RSA;
        p->nameAlg = TPM2_ALG_SHA256;
        p->objectAttributes = low;
        p->authPolicy.size = sizeof POLICY_A_SHA256;
        memcpy(p->authPolicy.buffer, POLICY_A_SHA256, sizeof POLICY_A_SHA256);
        p->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_AES;
        p->parameters.rsaDetail.symmetric.keyBits.aes = 128;
        p->parameters.rsaDetail.symmetric.mode.aes = TPM2_ALG_CFB;
        p->parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
        p->parameters.rsaDetail.keyBits = 2048;
        p->parameters.rsaDetail.exponent = 0;
        p->unique.rsa.size = 256; // zeros
        *policy_only = 1;
        return TSS2_RC_SUCCESS;
    case CTPM_EK_CERT_ECC_P256: // L-2
        p->type = TPM2_ALG_ECC;
        p->nameAlg = TPM2_ALG_SHA256;
        p->objectAttributes = low;
        p->authPolicy.size = sizeof POLICY_A_SHA256;
        memcpy(p->authPolicy.buffer, POLICY_A_SHA256, sizeof POLICY_A_SHA256);
        p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_AES;
        p->parameters.eccDetail.symmetric.keyBits.aes = 128;
        p->parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
        p->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
        p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
        p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
        p->unique.ecc.x.size = 32; // zeros
        p->unique.ecc.y.size = 32;
        *policy_only = 1;
        return TSS2_RC_SUCCESS;
    case CTPM_EK_CERT_ECC_P384: // H-3
        p->type = TPM2_ALG_ECC;
        p->nameAlg = TPM2_ALG_SHA384;
        p->objectAttributes = low | TPMA_OBJECT_USERWITHAUTH;
        p->authPolicy.size = sizeof POLICY_B_SHA384;
        memcpy(p->authPolicy.buffer, POLICY_B_SHA384, sizeof POLICY_B_SHA384);
        p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_AES;
        p->parameters.eccDetail.symmetric.keyBits.aes = 256;
        p->parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
        p->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
        p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P384;
        p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
        // unique: empty x and y
        *policy_only = 0;
        return TSS2_RC_SUCCESS;
    default:
        return TSS2_ESYS_RC_BAD_VALUE;
    }
}

/// ATTESTATION.md §3: ECC P-256 restricted signing key, ECDSA with SHA-256.
static void ak_template(TPM2B_PUBLIC *tmpl) {
    memset(tmpl, 0, sizeof *tmpl);
    TPMT_PUBLIC *p = &tmpl->publicArea;
    p->type = TPM2_ALG_ECC;
    p->nameAlg = TPM2_ALG_SHA256;
    p->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
                          TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT;
    p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
    p->parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
    p->parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
    p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
    p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
}

/// Storage root key, ECC P-256 (TCG TPM v2.0 Provisioning Guidance SRK template).
static void srk_template(TPM2B_PUBLIC *tmpl) {
    memset(tmpl, 0, sizeof *tmpl);
    TPMT_PUBLIC *p = &tmpl->publicArea;
    p->type = TPM2_ALG_ECC;
    p->nameAlg = TPM2_ALG_SHA256;
    p->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
                          TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_NODA | TPMA_OBJECT_RESTRICTED |
                          TPMA_OBJECT_DECRYPT;
    p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_AES;
    p->parameters.eccDetail.symmetric.keyBits.aes = 128;
    p->parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
    p->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
    p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
    p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
    p->unique.ecc.x.size = 32; // zeros
    p->unique.ecc.y.size = 32;
}

// MARK: Primaries and sessions

/// TPM2_CreatePrimary with the empty hierarchy password; optionally returns the public.
static TSS2_RC create_primary(ctpm_t *t, ESYS_TR hierarchy, const TPM2B_PUBLIC *tmpl, ESYS_TR *handle,
                              TPM2B_PUBLIC **out_public) {
    const TPM2B_SENSITIVE_CREATE sensitive = {0};
    const TPM2B_DATA outside = {0};
    const TPML_PCR_SELECTION creation_pcrs = {0};
    TPM2B_PUBLIC *pub = NULL;
    TPM2B_CREATION_DATA *creation_data = NULL;
    TPM2B_DIGEST *creation_hash = NULL;
    TPMT_TK_CREATION *creation_ticket = NULL;
    TSS2_RC rc = Esys_CreatePrimary(t->esys, hierarchy, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &sensitive,
                                    tmpl, &outside, &creation_pcrs, handle, &pub, &creation_data,
                                    &creation_hash, &creation_ticket);
    Esys_Free(creation_data);
    Esys_Free(creation_hash);
    Esys_Free(creation_ticket);
    if (rc == TSS2_RC_SUCCESS && out_public != NULL) {
        *out_public = pub;
    } else {
        Esys_Free(pub);
    }
    return rc;
}

static TSS2_RC create_ek(ctpm_t *t, uint32_t index, ESYS_TR *ek, int *policy_only, TPM2B_PUBLIC **out_public) {
    TPM2B_PUBLIC tmpl;
    TSS2_RC rc = ek_template(index, &tmpl, policy_only);
    if (rc != TSS2_RC_SUCCESS) {
        return rc;
    }
    return create_primary(t, ESYS_TR_RH_ENDORSEMENT, &tmpl, ek, out_public);
}

static TSS2_RC create_srk(ctpm_t *t, ESYS_TR *srk) {
    TPM2B_PUBLIC tmpl;
    srk_template(&tmpl);
    return create_primary(t, ESYS_TR_RH_OWNER, &tmpl, srk, NULL);
}

static TSS2_RC start_session(ctpm_t *t, ESYS_TR salt_key, TPM2_SE type, int encrypted, ESYS_TR *session) {
    TPMT_SYM_DEF sym = {.algorithm = TPM2_ALG_NULL};
    if (encrypted) {
        sym.algorithm = TPM2_ALG_AES;
        sym.keyBits.aes = 128;
        sym.mode.aes = TPM2_ALG_CFB;
    }
    return Esys_StartAuthSession(t->esys, salt_key, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, NULL,
                                 type, &sym, TPM2_ALG_SHA256, session);
}

/// The authorization for using the EK as a parent: the empty password when the template
/// has userWithAuth, else a fresh policy session satisfying PolicyA
/// (PolicySecret(TPM_RH_ENDORSEMENT)). The caller flushes it (flush ignores the password).
static TSS2_RC ek_auth(ctpm_t *t, int policy_only, ESYS_TR *session) {
    *session = ESYS_TR_PASSWORD;
    if (!policy_only) {
        return TSS2_RC_SUCCESS;
    }
    ESYS_TR s = ESYS_TR_NONE;
    TSS2_RC rc = start_session(t, ESYS_TR_NONE, TPM2_SE_POLICY, 0, &s);
    if (rc != TSS2_RC_SUCCESS) {
        return rc;
    }
    const TPM2B_NONCE nonce_tpm = {0};
    const TPM2B_DIGEST cp_hash = {0};
    const TPM2B_NONCE policy_ref = {0};
    rc = Esys_PolicySecret(t->esys, ESYS_TR_RH_ENDORSEMENT, s, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                           &nonce_tpm, &cp_hash, &policy_ref, 0, NULL, NULL);
    if (rc != TSS2_RC_SUCCESS) {
        flush(t->esys, &s);
        return rc;
    }
    *session = s;
    return TSS2_RC_SUCCESS;
}

/// Overwrites the ESAPI context's command/response buffer with a harmless response after
/// a command whose response carried a secret (ESAPI decrypts response parameters in place).
static void scrub_esys_buffer(ctpm_t *t) {
    TPM2B_DIGEST *random = NULL;
    if (Esys_GetRandom(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, sizeof(TPMU_HA), &random) ==
        TSS2_RC_SUCCESS) {
        Esys_Free(random);
    }
}

// MARK: Context

void ctpm_silence_tss_logging(void) {
    setenv("TSS2_LOG", "all+none", 1);
}

typedef TSS2_RC (*tcti_init_fn)(TSS2_TCTI_CONTEXT *, size_t *, const char *);

/// Initialises one of the two TCTIs linked into the worker (no TCTI loader, so no dlopen:
/// every library the worker executes is mapped at start and measured, see
/// docs/ATTESTATION.md §2). "swtpm:CONF" and "device:PATH"; anything else is refused.
static TSS2_RC tcti_open(const char *conf, TSS2_TCTI_CONTEXT **out) {
    tcti_init_fn init = NULL;
    const char *rest = NULL;
    if (conf == NULL) {
        return TSS2_TCTI_RC_BAD_VALUE;
    } else if (strncmp(conf, "swtpm:", 6) == 0) {
        init = Tss2_Tcti_Swtpm_Init;
        rest = conf + 6;
    } else if (strcmp(conf, "swtpm") == 0) {
        init = Tss2_Tcti_Swtpm_Init;
        rest = NULL;
    } else if (strncmp(conf, "device:", 7) == 0) {
        init = Tss2_Tcti_Device_Init;
        rest = conf + 7;
    } else if (strcmp(conf, "device") == 0) {
        init = Tss2_Tcti_Device_Init;
        rest = NULL;
    } else {
        return TSS2_TCTI_RC_BAD_VALUE;
    }
    if (rest != NULL && *rest == '\0') {
        rest = NULL;
    }
    size_t size = 0;
    TSS2_RC rc = init(NULL, &size, rest);
    if (rc != TSS2_RC_SUCCESS) {
        return rc;
    }
    TSS2_TCTI_CONTEXT *ctx = calloc(1, size);
    if (ctx == NULL) {
        return TSS2_ESYS_RC_MEMORY;
    }
    rc = init(ctx, &size, rest);
    if (rc != TSS2_RC_SUCCESS) {
        free(ctx);
        return rc;
    }
    *out = ctx;
    return TSS2_RC_SUCCESS;
}

static void tcti_close(TSS2_TCTI_CONTEXT **tcti) {
    if (*tcti != NULL) {
        Tss2_Tcti_Finalize(*tcti);
        free(*tcti);
        *tcti = NULL;
    }
}

ctpm_rc ctpm_open(const char *tcti_conf, ctpm_t **out) {
    if (out == NULL) {
        return TSS2_ESYS_RC_BAD_REFERENCE;
    }
    *out = NULL;
    ctpm_t *t = calloc(1, sizeof *t);
    if (t == NULL) {
        return TSS2_ESYS_RC_MEMORY;
    }
    TSS2_RC rc = tcti_open(tcti_conf, &t->tcti);
    if (rc != TSS2_RC_SUCCESS) {
        free(t);
        return rc;
    }
    rc = Esys_Initialize(&t->esys, t->tcti, NULL);
    if (rc != TSS2_RC_SUCCESS) {
        tcti_close(&t->tcti);
        free(t);
        return rc;
    }
    *out = t;
    return TSS2_RC_SUCCESS;
}

void ctpm_close(ctpm_t *t) {
    if (t == NULL) {
        return;
    }
    if (t->esys != NULL) {
        Esys_Finalize(&t->esys);
    }
    tcti_close(&t->tcti);
    wipe(t, sizeof *t);
    free(t);
}

ctpm_rc ctpm_descriptors(ctpm_t *t, int *fds, size_t *n) {
    if (t == NULL || fds == NULL || n == NULL) {
        return TSS2_ESYS_RC_BAD_REFERENCE;
    }
    TSS2_TCTI_POLL_HANDLE handles[CTPM_DESCRIPTORS_MAX];
    size_t count = CTPM_DESCRIPTORS_MAX;
    TSS2_RC rc = Tss2_Tcti_GetPollHandles(t->tcti, handles, &count);
    if (rc == TSS2_TCTI_RC_NOT_IMPLEMENTED) {
        // The swtpm TCTI: it connects per command and holds nothing between commands.
        *n = 0;
        return TSS2_RC_SUCCESS;
    }
    if (rc != TSS2_RC_SUCCESS) {
        return rc;
    }
    if (*n < count) {
        *n = count;
        return TSS2_ESYS_RC_INSUFFICIENT_BUFFER;
    }
    for (size_t i = 0; i < count; i++) {
        fds[i] = handles[i].fd;
    }
    *n = count;
    return TSS2_RC_SUCCESS;
}

/// Decodes this library's own layer (CTPM_RC_LAYER); `bits` are the code's low 16 bits.
static const char *ctpm_layer_decode(TSS2_RC bits) {
    switch (bits & 0xffff) {
    case CTPM_RC_COUNTER_MISMATCH & 0xffff:
        return "the NV index exists but is not the expected counter (other attributes, size, name "
               "algorithm or policy)";
    default:
        return "unknown ctpm error";
    }
}

static pthread_once_t ctpm_layer_once = PTHREAD_ONCE_INIT;

static void ctpm_layer_register(void) {
    Tss2_RC_SetHandler((uint8_t)(CTPM_RC_LAYER >> TSS2_RC_LAYER_SHIFT), "ctpm", ctpm_layer_decode);
}

const char *ctpm_error_string(ctpm_rc rc) {
    pthread_once(&ctpm_layer_once, ctpm_layer_register);
    return Tss2_RC_Decode(rc);
}

int ctpm_rc_is_policy_failure(ctpm_rc rc) {
    if ((rc & TSS2_RC_LAYER_MASK) != TSS2_TPM_RC_LAYER || (rc & TPM2_RC_FMT1) == 0) {
        return 0;
    }
    return (rc & (TPM2_RC_FMT1 | 0x3f)) == TPM2_RC_POLICY_FAIL;
}

int ctpm_rc_is_bad_auth(ctpm_rc rc) {
    if ((rc & TSS2_RC_LAYER_MASK) != TSS2_TPM_RC_LAYER || (rc & TPM2_RC_FMT1) == 0) {
        return 0;
    }
    const uint32_t code = rc & (TPM2_RC_FMT1 | 0x3f);
    return code == TPM2_RC_BAD_AUTH || code == TPM2_RC_AUTH_FAIL;
}

// MARK: PCRs

ctpm_rc ctpm_pcr_extend(ctpm_t *t, uint32_t pcr, const uint8_t digest[32]) {
    if (t == NULL || digest == NULL) {
        return TSS2_ESYS_RC_BAD_REFERENCE;
    }
    if (pcr >= CTPM_PCR_COUNT) {
        return TSS2_ESYS_RC_BAD_VALUE;
    }
    TPML_DIGEST_VALUES values = {.count = 1};
    values.digests[0].hashAlg = TPM2_ALG_SHA256;
    memcpy(values.digests[0].digest.sha256, digest, CTPM_DIGEST_SIZE);
    return Esys_PCR_Extend(t->esys, ESYS_TR_PCR0 + pcr, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &values);
}

ctpm_rc ctpm_pcr_reset(ctpm_t *t, uint32_t pcr) {
    if (t == NULL) {
        return TSS2_ESYS_RC_BAD_REFERENCE;
    }
    if (pcr >= CTPM_PCR_COUNT) {
        return TSS2_ESYS_RC_BAD_VALUE;
    }
    return Esys_PCR_Reset(t->esys, ESYS_TR_PCR0 + pcr, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE);
}

ctpm_rc ctpm_pcr_read(ctpm_t *t, const uint32_t *pcrs, size_t n, uint8_t *out) {
    if (t == NULL || out == NULL) {
        return TSS2_ESYS_RC_BAD_REFERENCE;
    }
    TPML_PCR_SELECTION remaining;
    TSS2_RC rc = pcr_selection(pcrs, n, 0, &remaining);
    if (rc != TSS2_RC_SUCCESS) {
        return rc;
    }
    uint8_t values[CTPM_PCR_COUNT][CTPM_DIGEST_SIZE];
    // A TPM returns at most eight digests per TPM2_PCR_Read; ask again for the rest.
    for (;;) {
        int left = 0;
        for (size_t i = 0; i < CTPM_PCR_COUNT / 8; i++) {
            left |= remaining.pcrSelections[0].pcrSelect[i];
        }
        if (!left) {
            break;
        }
        UINT32 counter = 0;
        TPML_PCR_SELECTION *got = NULL;
        TPML_DIGEST *digests = NULL;
        rc = Esys_PCR_Read(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &remaining, &counter, &got, &digests);
        if (rc != TSS2_RC_SUCCESS) {
            return rc;
        }
        uint32_t k = 0;
        int progressed = 0;
        for (uint32_t s = 0; s < got->count && rc == TSS2_RC_SUCCESS; s++) {
            const TPMS_PCR_SELECTION *sel = &got->pcrSelections[s];
            if (sel->hash != TPM2_ALG_SHA256) {
                rc = TSS2_ESYS_RC_MALFORMED_RESPONSE;
                break;
            }
            for (uint32_t p = 0; p < (uint32_t)sel->sizeofSelect * 8 && p < CTPM_PCR_COUNT; p++) {
                if (!(sel->pcrSelect[p / 8] & (1u << (p % 8)))) {
                    continue;
                }
                if (k >= digests->count || digests->digests[k].size != CTPM_DIGEST_SIZE) {
                    rc = TSS2_ESYS_RC_MALFORMED_RESPONSE;
                    break;
                }
                memcpy(values[p], digests->digests[k].buffer, CTPM_DIGEST_SIZE);
                remaining.pcrSelections[0].pcrSelect[p / 8] &= (uint8_t)~(1u << (p % 8));
                k++;
                progressed = 1;
            }
        }
        Esys_Free(got);
        Esys_Free(digests);
        if (rc != TSS2_RC_SUCCESS) {
            return rc;
        }
        if (!progressed) {
            // The TPM returned nothing for what is left: the bank does not have them.
            return TPM2_RC_PCR;
        }
    }
    for (size_t i = 0; i < n; i++) {
        memcpy(out + i * CTPM_DIGEST_SIZE, values[pcrs[i]], CTPM_DIGEST_SIZE);
    }
    return TSS2_RC_SUCCESS;
}

// MARK: EK certificate

/// 1 in *defined when the NV index exists (TPM2_GetCapability, so a missing index is not
/// an error and nothing is logged).
static TSS2_RC nv_defined(ctpm_t *t, uint32_t index, int *defined) {
    TPMI_YES_NO more = 0;
    TPMS_CAPABILITY_DATA *cap = NULL;
    TSS2_RC rc = Esys_GetCapability(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_HANDLES, index, 1,
                                    &more, &cap);
    if (rc != TSS2_RC_SUCCESS) {
        return rc;
    }
    *defined = cap->data.handles.count >= 1 && cap->data.handles.handle[0] == index;
    Esys_Free(cap);
    return TSS2_RC_SUCCESS;
}

ctpm_rc ctpm_ek_find(ctpm_t *t, uint32_t *ek_cert_index) {
    if (t == NULL || ek_cert_index == NULL) {
        return TSS2_ESYS_RC_BAD_REFERENCE;
    }
    static const uint32_t preference[] = {CTPM_EK_CERT_ECC_P256, CTPM_EK_CERT_ECC_P384, CTPM_EK_CERT_RSA2048};
    for (size_t i = 0; i < sizeof preference / sizeof preference[0]; i++) {
        int defined = 0;
        TSS2_RC rc = nv_defined(t, preference[i], &defined);
        if (rc != TSS2_RC_SUCCESS) {
            return rc;
        }
        if (defined) {
            *ek_cert_index = preference[i];
            return TSS2_RC_SUCCESS;
        }
    }
    return TPM2_RC_HANDLE;
}

static TSS2_RC resolve_ek_index(ctpm_t *t, uint32_t *index) {
    if (*index != 0) {
        int policy_only = 0;
        TPM2B_PUBLIC unused;
        return ek_template(*index, &unused, &policy_only);
    }
    return ctpm_ek_find(t, index);
}

/// The length of the DER element at the start of buf (definite lengths only), or 0.
/// Some TPMs pad the EK certificate's NV area; the certificate is that first element.
static size_t der_length(const uint8_t *buf, size_t n) {
    if (n < 2 || buf[0] != 0x30) {
        return 0;
    }
    size_t len = buf[1];
    size_t header = 2;
    if (len & 0x80) {
        size_t bytes = len & 0x7f;
        if (bytes == 0 || bytes > 3 || n < 2 + bytes) {
            return 0;
        }
        len = 0;
        for (size_t i = 0; i < bytes; i++) {
            len = (len << 8) | buf[2 + i];
        }
        header += bytes;
    }
    return header + len <= n ? header + len : 0;
}

static TSS2_RC nv_buffer_max(ctpm_t *t, uint16_t *max) {
    TPMI_YES_NO more = 0;
    TPMS_CAPABILITY_DATA *cap = NULL;
    TSS2_RC rc = Esys_GetCapability(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_TPM_PROPERTIES,
                                    TPM2_PT_NV_BUFFER_MAX, 1, &more, &cap);
    if (rc != TSS2_RC_SUCCESS) {
        return rc;
    }
    *max = 512; // every TPM supports at least this much, in practice
    const TPML_TAGGED_TPM_PROPERTY *props = &cap->data.tpmProperties;
    if (props->count >= 1 && props->tpmProperty[0].property == TPM2_PT_NV_BUFFER_MAX &&
        props->tpmProperty[0].value > 0) {
        const uint32_t v = props->tpmProperty[0].value;
        const uint32_t cap = sizeof(((TPM2B_MAX_NV_BUFFER *)0)->buffer);
        *max = (uint16_t)(v < cap ? v : cap);
    }
    Esys_Free(cap);
    return TSS2_RC_SUCCESS;
}

ctpm_rc ctpm_read_ek_certificate(ctpm_t *t, uint32_t ek_cert_index, uint8_t *der, size_t *len) {
    if (t == NULL || der == NULL || len == NULL) {
        return TSS2_ESYS_RC_BAD_REFERENCE;
    }
    TSS2_RC rc = resolve_ek_index(t, &ek_cert_index);
    if (rc != TSS2_RC_SUCCESS) {
        return rc;
    }
    uint16_t chunk = 0;
    rc = nv_buffer_max(t, &chunk);
    if (rc != TSS2_RC_SUCCESS) {
        return rc;
    }
    ESYS_TR nv = ESYS_TR_NONE;
    rc = Esys_TR_FromTPMPublic(t->esys, ek_cert_index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &nv);
    if (rc != TSS2_RC_SUCCESS) {
        return rc;
    }
    TPM2B_NV_PUBLIC *nv_public = NULL;
    TPM2B_NAME *nv_name = NULL;
    uint8_t *buf = NULL;
    size_t size = 0, cert_len = 0;
    rc = Esys_NV_ReadPublic(t->esys, nv, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &nv_public, &nv_name);
    if (rc != TSS2_RC_SUCCESS) {
        goto out;
    }
    size = nv_public->nvPublic.dataSize;
    buf = malloc(size > 0 ? size : 1);
    if (buf == NULL) {
        rc = TSS2_ESYS_RC_MEMORY;
        goto out;
    }
    for (size_t off = 0; off < size;) {
        uint16_t want = (uint16_t)(size - off < chunk ? size - off : chunk);
        TPM2B_MAX_NV_BUFFER *data = NULL;
        // Authorized by the index itself (TPMA_NV_AUTHREAD) with its empty auth value.
        rc = Esys_NV_Read(t->esys, nv, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, want, (uint16_t)off, &data);
        if (rc != TSS2_RC_SUCCESS) {
            goto out;
        }
        if (data->size == 0 || data->size > want) {
            Esys_Free(data);
            rc = TSS2_ESYS_RC_MALFORMED_RESPONSE;
            goto out;
        }
        memcpy(buf + off, data->buffer, data->size);
        off += data->size;
        Esys_Free(data);
    }
    cert_len = der_length(buf, size);
    if (cert_len == 0) {
        rc = TSS2_ESYS_RC_MALFORMED_RESPONSE; // not a DER SEQUENCE
        goto out;
    }
    rc = put_bytes(buf, cert_len, der, len);
out:
    free(buf);
    Esys_Free(nv_public);
    Esys_Free(nv_name);
    Esys_TR_Close(t->esys, &nv);
    return rc;
}

ctpm_rc ctpm_ek_public(ctpm_t *t, uint32_t ek_cert_index, uint8_t *ek_public, size_t *len) {
    if (t == NULL || ek_public == NULL || len == NULL) {
        return TSS2_ESYS_RC_BAD_REFERENCE;
    }
    TSS2_RC rc = resolve_ek_index(t, &ek_cert_index);
    if (rc != TSS2_RC_SUCCESS) {
        return rc;
    }
    ESYS_TR ek = ESYS_TR_NONE;
    int policy_only = 0;
    TPM2B_PUBLIC *pub = NULL;
    rc = create_ek(t, ek_cert_index, &ek, &policy_only, &pub);
    if (rc == TSS2_RC_SUCCESS) {
        rc = put_tpmt_public(&pub->publicArea, ek_public, len);
    }
    keep(&rc, flush(t->esys, &ek));
    Esys_Free(pub);
    return rc;
}

// MARK: AK and quote

ctpm_rc ctpm_create_ak(ctpm_t *t, uint32_t ek_cert_index, uint8_t *ak_public, size_t *ak_public_len,
                       uint8_t *ak_name, size_t *ak_name_len) {
    if (t == NULL || ak_public == NULL || ak_public_len == NULL || ak_name == NULL || ak_name_len == NULL) {
        return TSS2_ESYS_RC_BAD_REFERENCE;
    }
    TSS2_RC rc = resolve_ek_index(t, &ek_cert_index);
    if (rc != TSS2_RC_SUCCESS) {
        return rc;
    }
    ESYS_TR ek = ESYS_TR_NONE, session = ESYS_TR_NONE, ak = ESYS_TR_NONE;
    TPM2B_PRIVATE *priv = NULL;
    TPM2B_PUBLIC *pub = NULL;
    TPM2B_NAME *name = NULL;
    int policy_only = 0;

    rc = create_ek(t, ek_cert_index, &ek, &policy_only, NULL);
    if (rc != TSS2_RC_SUCCESS) {
        goto out;
    }
    rc = ek_auth(t, policy_only, &session);
    if (rc != TSS2_RC_SUCCESS) {
        goto out;
    }
    TPM2B_PUBLIC tmpl;
    ak_template(&tmpl);
    const TPM2B_SENSITIVE_CREATE sensitive = {0};
    const TPM2B_DATA outside = {0};
    const TPML_PCR_SELECTION creation_pcrs = {0};
    TPM2B_CREATION_DATA *creation_data = NULL;
    TPM2B_DIGEST *creation_hash = NULL;
    TPMT_TK_CREATION *creation_ticket = NULL;
    rc = Esys_Create(t->esys, ek, session, ESYS_TR_NONE, ESYS_TR_NONE, &sensitive, &tmpl, &outside, &creation_pcrs,
                     &priv, &pub, &creation_data, &creation_hash, &creation_ticket);
    Esys_Free(creation_data);
    Esys_Free(creation_hash);
    Esys_Free(creation_ticket);
    keep(&rc, flush(t->esys, &session));
    if (rc != TSS2_RC_SUCCESS) {
        goto out;
    }
    // Load once: proves the blobs load under this EK and gives the TPM-computed name.
    rc = ek_auth(t, policy_only, &session);
    if (rc != TSS2_RC_SUCCESS) {
        goto out;
    }
    rc = Esys_Load(t->esys, ek, session, ESYS_TR_NONE, ESYS_TR_NONE, priv, pub, &ak);
    keep(&rc, flush(t->esys, &session));
    keep(&rc, flush(t->esys, &ek));
    if (rc != TSS2_RC_SUCCESS) {
        goto out;
    }
    rc = Esys_TR_GetName(t->esys, ak, &name);
    keep(&rc, flush(t->esys, &ak));
    if (rc != TSS2_RC_SUCCESS) {
        goto out;
    }
    rc = put_tpmt_public(&pub->publicArea, ak_public, ak_public_len);
    if (rc != TSS2_RC_SUCCESS) {
        goto out;
    }
    rc = put_bytes(name->name, name->size, ak_name, ak_name_len);
    if (rc != TSS2_RC_SUCCESS) {
        goto out;
    }
    t->ak_public = *pub;
    t->ak_private = *priv;
    t->ak_parent_index = ek_cert_index;
    t->ak_is_primary = 0;
    t->has_ak = 1;
out:
    keep(&rc, flush(t->esys, &session));
    keep(&rc, flush(t->esys, &ak));
    keep(&rc, flush(t->esys, &ek));
    Esys_Free(priv);
    Esys_Free(pub);
    Esys_Free(name);
    return rc;
}

ctpm_rc ctpm_create_primary_ak(ctpm_t *t, uint8_t *ak_public, size_t *ak_public_len, uint8_t *ak_name,
                               size_t *ak_name_len) {
    if (t == NULL || ak_public == NULL || ak_public_len == NULL || ak_name == NULL || ak_name_len == NULL) {
        return TSS2_ESYS_RC_BAD_REFERENCE;
    }
    TPM2B_PUBLIC tmpl;
    ak_template(&tmpl);
    ESYS_TR ak = ESYS_TR_NONE;
    TPM2B_PUBLIC *pub = NULL;
    TPM2B_NAME *name = NULL;
    TSS2_RC rc = create_primary(t, ESYS_TR_RH_ENDORSEMENT, &tmpl, &ak, &pub);
    if (rc == TSS2_RC_SUCCESS) {
        rc = Esys_TR_GetName(t->esys, ak, &name);
    }
    keep(&rc, flush(t->esys, &ak));
    if (rc == TSS2_RC_SUCCESS) {
        rc = put_tpmt_public(&pub->publicArea, ak_public, ak_public_len);
    }
    if (rc == TSS2_RC_SUCCESS) {
        rc = put_bytes(name->name, name->size, ak_name, ak_name_len);
    }
    if (rc == TSS2_RC_SUCCESS) {
        t->has_ak = 1;
        t->ak_is_primary = 1;
    }
    Esys_Free(pub);
    Esys_Free(name);
    return rc;
}

ctpm_rc ctpm_quote(ctpm_t *t, const uint8_t qualifying[32], const uint32_t *pcrs, size_t n, uint8_t *attest,
                   size_t *attest_len, uint8_t *sig, size_t *sig_len) {
    if (t == NULL || qualifying == NULL || attest == NULL || attest_len == NULL || sig == NULL || sig_len == NULL) {
        return TSS2_ESYS_RC_BAD_REFERENCE;
    }
    if (!t->has_ak) {
        return TSS2_ESYS_RC_BAD_SEQUENCE;
    }
    TPML_PCR_SELECTION selection;
    TSS2_RC rc = pcr_selection(pcrs, n, 1, &selection);
    if (rc != TSS2_RC_SUCCESS) {
        return rc;
    }
    ESYS_TR ek = ESYS_TR_NONE, session = ESYS_TR_NONE, ak = ESYS_TR_NONE;
    TPM2B_ATTEST *quoted = NULL;
    TPMT_SIGNATURE *signature = NULL;
    int policy_only = 0;

    if (t->ak_is_primary) {
        // Same seed, same template: the same key as ctpm_create_primary_ak returned.
        TPM2B_PUBLIC tmpl;
        ak_template(&tmpl);
        rc = create_primary(t, ESYS_TR_RH_ENDORSEMENT, &tmpl, &ak, NULL);
        if (rc != TSS2_RC_SUCCESS) {
            goto out;
        }
    } else {
        rc = create_ek(t, t->ak_parent_index, &ek, &policy_only, NULL);
        if (rc != TSS2_RC_SUCCESS) {
            goto out;
        }
        rc = ek_auth(t, policy_only, &session);
        if (rc != TSS2_RC_SUCCESS) {
            goto out;
        }
        rc = Esys_Load(t->esys, ek, session, ESYS_TR_NONE, ESYS_TR_NONE, &t->ak_private, &t->ak_public, &ak);
        keep(&rc, flush(t->esys, &session));
        keep(&rc, flush(t->esys, &ek));
        if (rc != TSS2_RC_SUCCESS) {
            goto out;
        }
    }
    TPM2B_DATA qualifying_data = {.size = CTPM_DIGEST_SIZE};
    memcpy(qualifying_data.buffer, qualifying, CTPM_DIGEST_SIZE);
    const TPMT_SIG_SCHEME scheme = {.scheme = TPM2_ALG_NULL}; // the AK's own: ECDSA, SHA-256
    rc = Esys_Quote(t->esys, ak, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &qualifying_data, &scheme,
                    &selection, &quoted, &signature);
    keep(&rc, flush(t->esys, &ak));
    if (rc != TSS2_RC_SUCCESS) {
        goto out;
    }
    rc = put_bytes(quoted->attestationData, quoted->size, attest, attest_len);
    if (rc != TSS2_RC_SUCCESS) {
        goto out;
    }
    uint8_t buf[sizeof(TPMT_SIGNATURE)];
    size_t off = 0;
    rc = Tss2_MU_TPMT_SIGNATURE_Marshal(signature, buf, sizeof buf, &off);
    if (rc != TSS2_RC_SUCCESS) {
        goto out;
    }
    rc = put_bytes(buf, off, sig, sig_len);
out:
    keep(&rc, flush(t->esys, &session));
    keep(&rc, flush(t->esys, &ak));
    keep(&rc, flush(t->esys, &ek));
    Esys_Free(quoted);
    Esys_Free(signature);
    return rc;
}

ctpm_rc ctpm_activate_credential(ctpm_t *t, uint32_t ek_cert_index, const uint8_t *credential_blob,
                                 size_t blob_len, const uint8_t *encrypted_secret, size_t secret_len,
                                 uint8_t *cert_info, size_t *cert_info_len) {
    if (t == NULL || credential_blob == NULL || encrypted_secret == NULL || cert_info == NULL ||
        cert_info_len == NULL) {
        return TSS2_ESYS_RC_BAD_REFERENCE;
    }
    if (!t->has_ak || !t->ak_is_primary) {
        return TSS2_ESYS_RC_BAD_SEQUENCE;
    }
    if (ek_cert_index == 0) {
        ek_cert_index = CTPM_EK_CERT_RSA2048;
    }
    int policy_only = 0;
    TPM2B_PUBLIC unused;
    TSS2_RC rc = ek_template(ek_cert_index, &unused, &policy_only);
    if (rc != TSS2_RC_SUCCESS) {
        return rc;
    }
    ESYS_TR ak = ESYS_TR_NONE, ek = ESYS_TR_NONE, session = ESYS_TR_NONE;
    TPM2B_DIGEST *info = NULL;
    TPM2B_ID_OBJECT blob = {0};
    TPM2B_ENCRYPTED_SECRET secret = {0};
    size_t off = 0;
    // Exactly one marshalled structure each: trailing bytes are refused, not ignored.
    rc = Tss2_MU_TPM2B_ID_OBJECT_Unmarshal(credential_blob, blob_len, &off, &blob);
    if (rc != TSS2_RC_SUCCESS || off != blob_len) {
        rc = rc != TSS2_RC_SUCCESS ? rc : TSS2_ESYS_RC_BAD_VALUE;
        goto out;
    }
    off = 0;
    rc = Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(encrypted_secret, secret_len, &off, &secret);
    if (rc != TSS2_RC_SUCCESS || off != secret_len) {
        rc = rc != TSS2_RC_SUCCESS ? rc : TSS2_ESYS_RC_BAD_VALUE;
        goto out;
    }
    // Same seed, same template: the AK whose Name ctpm_create_primary_ak returned.
    TPM2B_PUBLIC tmpl;
    ak_template(&tmpl);
    rc = create_primary(t, ESYS_TR_RH_ENDORSEMENT, &tmpl, &ak, NULL);
    if (rc != TSS2_RC_SUCCESS) {
        goto out;
    }
    rc = create_ek(t, ek_cert_index, &ek, &policy_only, NULL);
    if (rc != TSS2_RC_SUCCESS) {
        goto out;
    }
    rc = ek_auth(t, policy_only, &session);
    if (rc != TSS2_RC_SUCCESS) {
        goto out;
    }
    // activateHandle (ADMIN role): the AK has no adminWithPolicy, so its empty password.
    // keyHandle (USER role): the EK, through its policy session.
    rc = Esys_ActivateCredential(t->esys, ak, ek, ESYS_TR_PASSWORD, session, ESYS_TR_NONE, &blob, &secret, &info);
    keep(&rc, flush(t->esys, &session));
    if (rc != TSS2_RC_SUCCESS) {
        goto out;
    }
    scrub_esys_buffer(t);
    rc = put_bytes(info->buffer, info->size, cert_info, cert_info_len);
out:
    if (info != NULL) {
        wipe(info, sizeof *info);
        Esys_Free(info);
    }
    keep(&rc, flush(t->esys, &session));
    keep(&rc, flush(t->esys, &ek));
    keep(&rc, flush(t->esys, &ak));
    wipe(&blob, sizeof blob);
    wipe(&secret, sizeof secret);
    return rc;
}

// MARK: Seal and unseal

/// The TPM2_PolicyPCR digest for `pcr`, computed in a trial session. `expected` NULL
/// means the PCR's current value; otherwise pcrDigest = SHA-256(expected), computed by the
/// TPM (TPM2_Hash) so this library carries no hash implementation.
static TSS2_RC pcr_policy_digest(ctpm_t *t, uint32_t pcr, const uint8_t *expected, TPM2B_DIGEST *policy) {
    TPML_PCR_SELECTION selection;
    TSS2_RC rc = single_pcr_selection(pcr, &selection);
    if (rc != TSS2_RC_SUCCESS) {
        return rc;
    }
    TPM2B_DIGEST pcr_digest = {0};
    if (expected != NULL) {
        TPM2B_MAX_BUFFER data = {.size = CTPM_DIGEST_SIZE};
        memcpy(data.buffer, expected, CTPM_DIGEST_SIZE);
        TPM2B_DIGEST *hash = NULL;
        TPMT_TK_HASHCHECK *ticket = NULL;
        rc = Esys_Hash(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &data, TPM2_ALG_SHA256, ESYS_TR_RH_NULL,
                       &hash, &ticket);
        if (rc != TSS2_RC_SUCCESS) {
            return rc;
        }
        pcr_digest = *hash;
        Esys_Free(hash);
        Esys_Free(ticket);
    }
    ESYS_TR trial = ESYS_TR_NONE;
    rc = start_session(t, ESYS_TR_NONE, TPM2_SE_TRIAL, 0, &trial);
    if (rc != TSS2_RC_SUCCESS) {
        return rc;
    }
    rc = Esys_PolicyPCR(t->esys, trial, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pcr_digest, &selection);
    TPM2B_DIGEST *digest = NULL;
    if (rc == TSS2_RC_SUCCESS) {
        rc = Esys_PolicyGetDigest(t->esys, trial, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &digest);
    }
    if (rc == TSS2_RC_SUCCESS) {
        *policy = *digest;
    }
    Esys_Free(digest);
    keep(&rc, flush(t->esys, &trial));
    return rc;
}

ctpm_rc ctpm_seal(ctpm_t *t, uint32_t pcr, const uint8_t *expected_pcr, const uint8_t secret[32],
                  uint8_t *sealed_public, size_t *sealed_public_len, uint8_t *sealed_private,
                  size_t *sealed_private_len) {
    if (t == NULL || secret == NULL || sealed_public == NULL || sealed_public_len == NULL ||
        sealed_private == NULL || sealed_private_len == NULL) {
        return TSS2_ESYS_RC_BAD_REFERENCE;
    }
    if (pcr >= CTPM_PCR_COUNT) {
        return TSS2_ESYS_RC_BAD_VALUE;
    }
    TPM2B_DIGEST policy = {0};
    TSS2_RC rc = pcr_policy_digest(t, pcr, expected_pcr, &policy);
    if (rc != TSS2_RC_SUCCESS) {
        return rc;
    }
    ESYS_TR srk = ESYS_TR_NONE, session = ESYS_TR_NONE;
    TPM2B_PRIVATE *priv = NULL;
    TPM2B_PUBLIC *pub = NULL;
    TPM2B_SENSITIVE_CREATE sensitive = {0};

    rc = create_srk(t, &srk);
    if (rc != TSS2_RC_SUCCESS) {
        goto out;
    }
    // HMAC session salted to the SRK: authorizes the SRK (empty auth) and encrypts
    // inSensitive, the command's first parameter, so the secret never crosses the TCTI
    // in the clear.
    rc = start_session(t, srk, TPM2_SE_HMAC, 1, &session);
    if (rc != TSS2_RC_SUCCESS) {
        goto out;
    }
    rc = Esys_TRSess_SetAttributes(t->esys, session, TPMA_SESSION_DECRYPT | TPMA_SESSION_CONTINUESESSION, 0xff);
    if (rc != TSS2_RC_SUCCESS) {
        goto out;
    }
    TPM2B_PUBLIC tmpl = {0};
    TPMT_PUBLIC *p = &tmpl.publicArea;
    p->type = TPM2_ALG_KEYEDHASH;
    p->nameAlg = TPM2_ALG_SHA256;
    // No userWithAuth: only a policy session satisfying authPolicy may unseal.
    p->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT;
    p->authPolicy = policy;
    p->parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL;
    sensitive.sensitive.data.size = CTPM_DIGEST_SIZE;
    memcpy(sensitive.sensitive.data.buffer, secret, CTPM_DIGEST_SIZE);
    const TPM2B_DATA outside = {0};
    const TPML_PCR_SELECTION creation_pcrs = {0};
    TPM2B_CREATION_DATA *creation_data = NULL;
    TPM2B_DIGEST *creation_hash = NULL;
    TPMT_TK_CREATION *creation_ticket = NULL;
    rc = Esys_Create(t->esys, srk, session, ESYS_TR_NONE, ESYS_TR_NONE, &sensitive, &tmpl, &outside,
                     &creation_pcrs, &priv, &pub, &creation_data, &creation_hash, &creation_ticket);
    wipe(&sensitive, sizeof sensitive);
    Esys_Free(creation_data);
    Esys_Free(creation_hash);
    Esys_Free(creation_ticket);
    if (rc != TSS2_RC_SUCCESS) {
        goto out;
    }
    uint8_t buf[sizeof(TPM2B_PUBLIC) > sizeof(TPM2B_PRIVATE) ? sizeof(TPM2B_PUBLIC) : sizeof(TPM2B_PRIVATE)];
    size_t off = 0;
    rc = Tss2_MU_TPM2B_PUBLIC_Marshal(pub, buf, sizeof buf, &off);
    if (rc == TSS2_RC_SUCCESS) {
        rc = put_bytes(buf, off, sealed_public, sealed_public_len);
    }
    if (rc != TSS2_RC_SUCCESS) {
        goto out;
    }
    off = 0;
    rc = Tss2_MU_TPM2B_PRIVATE_Marshal(priv, buf, sizeof buf, &off);
    if (rc == TSS2_RC_SUCCESS) {
        rc = put_bytes(buf, off, sealed_private, sealed_private_len);
    }
out:
    wipe(&sensitive, sizeof sensitive);
    keep(&rc, flush(t->esys, &session));
    keep(&rc, flush(t->esys, &srk));
    Esys_Free(priv);
    Esys_Free(pub);
    return rc;
}

ctpm_rc ctpm_unseal(ctpm_t *t, uint32_t pcr, const uint8_t *sealed_public, size_t sealed_public_len,
                    const uint8_t *sealed_private, size_t sealed_private_len, uint8_t secret[32]) {
    if (t == NULL || sealed_public == NULL || sealed_private == NULL || secret == NULL) {
        return TSS2_ESYS_RC_BAD_REFERENCE;
    }
    wipe(secret, CTPM_DIGEST_SIZE);
    TPML_PCR_SELECTION selection;
    TSS2_RC rc = single_pcr_selection(pcr, &selection);
    if (rc != TSS2_RC_SUCCESS) {
        return rc;
    }
    TPM2B_PUBLIC pub = {0};
    TPM2B_PRIVATE priv = {0};
    size_t off = 0;
    rc = Tss2_MU_TPM2B_PUBLIC_Unmarshal(sealed_public, sealed_public_len, &off, &pub);
    if (rc != TSS2_RC_SUCCESS || off != sealed_public_len) {
        return rc != TSS2_RC_SUCCESS ? rc : TSS2_ESYS_RC_BAD_VALUE;
    }
    off = 0;
    rc = Tss2_MU_TPM2B_PRIVATE_Unmarshal(sealed_private, sealed_private_len, &off, &priv);
    if (rc != TSS2_RC_SUCCESS || off != sealed_private_len) {
        return rc != TSS2_RC_SUCCESS ? rc : TSS2_ESYS_RC_BAD_VALUE;
    }
    ESYS_TR srk = ESYS_TR_NONE, sealed = ESYS_TR_NONE, session = ESYS_TR_NONE;
    TPM2B_SENSITIVE_DATA *data = NULL;

    rc = create_srk(t, &srk);
    if (rc != TSS2_RC_SUCCESS) {
        goto out;
    }
    rc = Esys_Load(t->esys, srk, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &priv, &pub, &sealed);
    if (rc != TSS2_RC_SUCCESS) {
        goto out;
    }
    // Policy session salted to the SRK, so the response (the secret) is encrypted with a
    // key only this TPM and this process know.
    rc = start_session(t, srk, TPM2_SE_POLICY, 1, &session);
    keep(&rc, flush(t->esys, &srk));
    if (rc != TSS2_RC_SUCCESS) {
        goto out;
    }
    rc = Esys_TRSess_SetAttributes(t->esys, session, TPMA_SESSION_ENCRYPT | TPMA_SESSION_CONTINUESESSION, 0xff);
    if (rc != TSS2_RC_SUCCESS) {
        goto out;
    }
    const TPM2B_DIGEST current = {0}; // the TPM uses the PCR's current value
    rc = Esys_PolicyPCR(t->esys, session, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &current, &selection);
    if (rc != TSS2_RC_SUCCESS) {
        goto out;
    }
    rc = Esys_Unseal(t->esys, sealed, session, ESYS_TR_NONE, ESYS_TR_NONE, &data);
    if (rc != TSS2_RC_SUCCESS) {
        goto out;
    }
    scrub_esys_buffer(t);
    if (data->size != CTPM_DIGEST_SIZE) {
        rc = TSS2_ESYS_RC_MALFORMED_RESPONSE;
        goto out;
    }
    memcpy(secret, data->buffer, CTPM_DIGEST_SIZE);
out:
    if (data != NULL) {
        wipe(data, sizeof *data);
        Esys_Free(data);
    }
    keep(&rc, flush(t->esys, &session));
    keep(&rc, flush(t->esys, &sealed));
    keep(&rc, flush(t->esys, &srk));
    if (rc != TSS2_RC_SUCCESS) {
        wipe(secret, CTPM_DIGEST_SIZE);
    }
    return rc;
}

// MARK: Monotonic NV counter (docs/DURABILITY.md §5)

/// The public area ctpm_counter_open defines (and demands of an existing index, apart from
/// TPMA_NV_WRITTEN).
static void counter_public(uint32_t index, TPM2B_NV_PUBLIC *pub) {
    memset(pub, 0, sizeof *pub);
    pub->nvPublic.nvIndex = index;
    pub->nvPublic.nameAlg = TPM2_ALG_SHA256;
    pub->nvPublic.attributes = CTPM_COUNTER_ATTRIBUTES;
    pub->nvPublic.dataSize = 8;
}

/// The ESAPI handle of the NV index `index` (TPM2_NV_ReadPublic through
/// Esys_TR_FromTPMPublic, then again for its public area, which ESAPI does not hand
/// out) after checking that it is the counter. *attributes gets its TPMA_NV. The caller
/// closes *nv with Esys_TR_Close (an NV handle is not a loaded object: nothing to flush).
static TSS2_RC counter_handle(ctpm_t *t, uint32_t index, ESYS_TR *nv, uint32_t *attributes) {
    *nv = ESYS_TR_NONE;
    TSS2_RC rc = Esys_TR_FromTPMPublic(t->esys, index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, nv);
    if (rc != TSS2_RC_SUCCESS) {
        return rc;
    }
    TPM2B_NV_PUBLIC *pub = NULL;
    TPM2B_NAME *name = NULL;
    rc = Esys_NV_ReadPublic(t->esys, *nv, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub, &name);
    if (rc == TSS2_RC_SUCCESS) {
        TPM2B_NV_PUBLIC want;
        counter_public(index, &want);
        const TPMS_NV_PUBLIC *got = &pub->nvPublic;
        *attributes = got->attributes;
        if (got->nvIndex != index || got->nameAlg != want.nvPublic.nameAlg ||
            (got->attributes & ~TPMA_NV_WRITTEN) != want.nvPublic.attributes ||
            got->authPolicy.size != 0 || got->dataSize != want.nvPublic.dataSize) {
            rc = CTPM_RC_COUNTER_MISMATCH;
        }
    }
    Esys_Free(pub);
    Esys_Free(name);
    if (rc != TSS2_RC_SUCCESS) {
        Esys_TR_Close(t->esys, nv);
        *nv = ESYS_TR_NONE;
    }
    return rc;
}

/// TPM2_NV_Read of the 8-byte counter, authorized by the index with its empty password.
static TSS2_RC counter_read(ctpm_t *t, ESYS_TR nv, uint64_t *value) {
    TPM2B_MAX_NV_BUFFER *data = NULL;
    TSS2_RC rc = Esys_NV_Read(t->esys, nv, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, 8, 0, &data);
    if (rc != TSS2_RC_SUCCESS) {
        return rc;
    }
    if (data->size != 8) {
        rc = TSS2_ESYS_RC_MALFORMED_RESPONSE;
    } else {
        uint64_t v = 0;
        for (size_t i = 0; i < 8; i++) {
            v = (v << 8) | data->buffer[i];
        }
        *value = v;
    }
    Esys_Free(data);
    return rc;
}

static TSS2_RC counter_increment(ctpm_t *t, ESYS_TR nv) {
    return Esys_NV_Increment(t->esys, nv, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE);
}

ctpm_rc ctpm_counter_open(ctpm_t *t, uint32_t index, uint64_t *value, uint32_t *attributes, int *defined) {
    if (t == NULL || value == NULL || attributes == NULL || defined == NULL) {
        return TSS2_ESYS_RC_BAD_REFERENCE;
    }
    *defined = 0;
    *attributes = 0;
    if ((index >> 24) != TPM2_HT_NV_INDEX) {
        return TSS2_ESYS_RC_BAD_VALUE;
    }
    int exists = 0;
    TSS2_RC rc = nv_defined(t, index, &exists);
    if (rc != TSS2_RC_SUCCESS) {
        return rc;
    }
    ESYS_TR nv = ESYS_TR_NONE;
    if (!exists) {
        const TPM2B_AUTH empty = {0};
        TPM2B_NV_PUBLIC pub;
        counter_public(index, &pub);
        rc = Esys_NV_DefineSpace(t->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &empty,
                                 &pub, &nv);
        if (rc != TSS2_RC_SUCCESS) {
            return rc;
        }
        *defined = 1;
        // Check what the TPM made of it, exactly as for an index found.
        Esys_TR_Close(t->esys, &nv);
    }
    rc = counter_handle(t, index, &nv, attributes);
    if (rc != TSS2_RC_SUCCESS) {
        return rc;
    }
    if ((*attributes & TPMA_NV_WRITTEN) == 0) {
        // Never incremented, so unreadable (TPM_RC_NV_UNINITIALIZED): give it its first value.
        rc = counter_increment(t, nv);
        if (rc == TSS2_RC_SUCCESS) {
            *attributes |= TPMA_NV_WRITTEN;
        }
    }
    if (rc == TSS2_RC_SUCCESS) {
        rc = counter_read(t, nv, value);
    }
    Esys_TR_Close(t->esys, &nv);
    return rc;
}

ctpm_rc ctpm_counter_read(ctpm_t *t, uint32_t index, uint64_t *value) {
    if (t == NULL || value == NULL) {
        return TSS2_ESYS_RC_BAD_REFERENCE;
    }
    ESYS_TR nv = ESYS_TR_NONE;
    uint32_t attributes = 0;
    TSS2_RC rc = counter_handle(t, index, &nv, &attributes);
    if (rc != TSS2_RC_SUCCESS) {
        return rc;
    }
    rc = counter_read(t, nv, value);
    Esys_TR_Close(t->esys, &nv);
    return rc;
}

ctpm_rc ctpm_counter_increment(ctpm_t *t, uint32_t index, uint64_t *value) {
    if (t == NULL || value == NULL) {
        return TSS2_ESYS_RC_BAD_REFERENCE;
    }
    ESYS_TR nv = ESYS_TR_NONE;
    uint32_t attributes = 0;
    TSS2_RC rc = counter_handle(t, index, &nv, &attributes);
    if (rc != TSS2_RC_SUCCESS) {
        return rc;
    }
    rc = counter_increment(t, nv);
    if (rc == TSS2_RC_SUCCESS) {
        rc = counter_read(t, nv, value);
    }
    Esys_TR_Close(t->esys, &nv);
    return rc;
}
