// The enclave's door to a TPM 2.0 (docs/ATTESTATION.md §2–§3), over tpm2-tss ESAPI.
//
// Only ctpm.c includes the tss2 headers; this header uses plain C types so that no TSS
// type reaches Swift. Every function returns a TSS2_RC as `ctpm_rc` (0 = success); a
// failure from the TPM keeps the TPM's response code, argument errors use the ESAPI
// layer's codes (BAD_REFERENCE, BAD_VALUE, INSUFFICIENT_BUFFER, BAD_SEQUENCE), and checks
// of the library's own use its layer CTPM_RC_LAYER (CTPM_RC_COUNTER_MISMATCH).
//
// Buffers: every `(uint8_t *buf, size_t *len)` pair is in/out. On entry *len is the
// capacity of buf; on success it is the number of bytes written; when the capacity is
// too small the call returns INSUFFICIENT_BUFFER and sets *len to the size required,
// when that is known. The library allocates nothing that outlives a call except the
// ctpm_t itself.
//
// Transient objects: swtpm has three object slots, so every call creates or loads what it
// needs and flushes all of it before returning, on success and on failure. Nothing is left
// loaded between calls. At most two objects and one session are loaded at any time.
//
// Logging: the library never prints. tpm2-tss itself logs errors to stderr unless the
// environment has TSS2_LOG=all+none; ctpm_silence_tss_logging() sets that, and must be
// called before the first ctpm_open and before any other thread starts.
//
// Threads: a ctpm_t may be used by one thread at a time. swtpm serves one connection at a
// time; the swtpm TCTI opens one per command, so another client's commands may interleave
// between ours (objects are never left loaded between calls, so that is harmless), but a
// client that holds its connection open blocks every ctpm call until it lets go.
#ifndef SEALSTREAM_CTPM_H
#define SEALSTREAM_CTPM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// A TSS2_RC. 0 is success.
typedef uint32_t ctpm_rc;

/// An open connection to one TPM (TCTI and ESAPI context, plus the AK blobs once created).
typedef struct ctpm ctpm_t;

#define CTPM_RC_SUCCESS 0u
/// The ESAPI-layer codes this library returns for its own argument checks.
#define CTPM_RC_BAD_REFERENCE 0x00070005u       // TSS2_ESYS_RC_BAD_REFERENCE: a NULL pointer
#define CTPM_RC_INSUFFICIENT_BUFFER 0x00070006u // TSS2_ESYS_RC_INSUFFICIENT_BUFFER: *len set to the size needed
#define CTPM_RC_BAD_SEQUENCE 0x00070007u        // TSS2_ESYS_RC_BAD_SEQUENCE: ctpm_quote before ctpm_create_ak,
                                                // ctpm_activate_credential before ctpm_create_primary_ak
#define CTPM_RC_BAD_VALUE 0x0007000bu           // TSS2_ESYS_RC_BAD_VALUE: PCR out of range, repeated, unordered…

/// NV indices of the EK certificates (TCG EK Credential Profile 2.x) the library knows.
/// Each names one EK template, from which the EK is regenerated as a primary key.
/// RSA 2048, template L-1 (adminWithPolicy, policy-only user auth).
#define CTPM_EK_CERT_RSA2048 0x01c00002u
/// ECC NIST P-256, template L-2 (adminWithPolicy, policy-only user auth).
#define CTPM_EK_CERT_ECC_P256 0x01c0000au
/// ECC NIST P-384, high-range template H-3 (userWithAuth, SHA-384 name). swtpm 0.7's
/// swtpm_setup provisions this one and RSA 2048; it does not provision P-256.
#define CTPM_EK_CERT_ECC_P384 0x01c00016u

/// Upper bounds for output buffers, in bytes.
#define CTPM_PUBLIC_MAX 1024u     // marshalled TPMT_PUBLIC or TPM2B_PUBLIC
#define CTPM_PRIVATE_MAX 2048u    // marshalled TPM2B_PRIVATE
#define CTPM_NAME_MAX 68u         // TPM2B_NAME contents: 2-byte nameAlg + digest
#define CTPM_ATTEST_MAX 2304u     // TPMS_ATTEST (contents of a TPM2B_ATTEST)
#define CTPM_SIGNATURE_MAX 1024u  // marshalled TPMT_SIGNATURE
#define CTPM_EK_CERT_MAX 4096u    // DER EK certificate
#define CTPM_PCR_COUNT 24u        // PCRs 0…23 of the SHA-256 bank
#define CTPM_DIGEST_SIZE 32u      // SHA-256
#define CTPM_DESCRIPTORS_MAX 8u   // ctpm_descriptors

/// Sets TSS2_LOG=all+none in the environment (tpm2-tss then logs nothing). Call once at
/// start-up, before ctpm_open and before other threads exist (setenv is not thread-safe).
void ctpm_silence_tss_logging(void);

/// Opens a TPM through one of the two TCTIs linked in (no TCTI loader and no dlopen, so
/// everything the worker executes is mapped, and measured, at start):
/// "swtpm:host=127.0.0.1,port=2321", "swtpm:path=DIR/swtpm.sock" (control channel at that
/// path + ".ctrl"), "device:/dev/tpmrm0"; any other TCTI is refused (TSS2_TCTI_RC_BAD_VALUE). Sends no TPM command (the
/// swtpm TCTI sets the locality over the control channel). On success *out is a new
/// context that the caller releases with ctpm_close.
ctpm_rc ctpm_open(const char *tcti_conf, ctpm_t **out);

/// Finalizes ESAPI and the TCTI (closing the connection), wipes and frees the context.
/// NULL is allowed.
void ctpm_close(ctpm_t *tpm);

/// The file descriptors the connection keeps open between calls (the TCTI's poll
/// handles): for device:/dev/tpmrm0 the device. A process that closes its descriptors
/// after ctpm_open must keep these. The swtpm TCTI keeps none: it connects to swtpm for
/// every command (and to the control channel in ctpm_open), so *n is 0; a process that
/// later enters a private network namespace must therefore reach swtpm through a Unix
/// socket ("swtpm:path=…", scripts/swtpm.sh with SWTPM_TRANSPORT=unix), not TCP. TCTIs
/// that keep descriptors without reporting them (mssim) also give 0. On entry *n is the
/// capacity of fds (CTPM_DESCRIPTORS_MAX is enough); on success the number written.
ctpm_rc ctpm_descriptors(ctpm_t *tpm, int *fds, size_t *n);

/// A description of rc (Tss2_RC_Decode), e.g. "tpm:session(1):a policy check failed".
/// The string belongs to the library and is valid until the next call on this thread.
const char *ctpm_error_string(ctpm_rc rc);

/// 1 if rc is the TPM's TPM2_RC_POLICY_FAIL (for any session): the policy, e.g. a PCR
/// value, does not match. 0 otherwise.
int ctpm_rc_is_policy_failure(ctpm_rc rc);

// MARK: PCRs (SHA-256 bank)

/// TPM2_PCR_Extend of PCR `pcr` (0…23) in the SHA-256 bank with a 32-byte digest:
/// pcr := SHA-256(pcr ‖ digest). Password authorization with the empty auth value.
ctpm_rc ctpm_pcr_extend(ctpm_t *tpm, uint32_t pcr, const uint8_t digest[32]);

/// TPM2_PCR_Reset of `pcr` in every bank (the SHA-256 value becomes 32 zero bytes). The
/// PC Client profile allows it at locality 0 only for PCR 16 (debug) and PCR 23
/// (application); other PCRs fail with TPM2_RC_LOCALITY. swtpm follows the profile.
ctpm_rc ctpm_pcr_reset(ctpm_t *tpm, uint32_t pcr);

/// Reads `n` distinct PCRs (0…23, any order) of the SHA-256 bank into out, which holds
/// n * 32 bytes: out[i*32 ..< i*32+32] is the value of pcrs[i].
ctpm_rc ctpm_pcr_read(ctpm_t *tpm, const uint32_t *pcrs, size_t n, uint8_t *out);

// MARK: Endorsement key and its certificate

/// The EK certificate index to use: the first of CTPM_EK_CERT_ECC_P256,
/// CTPM_EK_CERT_ECC_P384, CTPM_EK_CERT_RSA2048 that is defined in the TPM's NV.
/// Fails with TPM2_RC_HANDLE when none is.
ctpm_rc ctpm_ek_find(ctpm_t *tpm, uint32_t *ek_cert_index);

/// Reads the DER EK certificate stored at `ek_cert_index` (0 = ctpm_ek_find).
ctpm_rc ctpm_read_ek_certificate(ctpm_t *tpm, uint32_t ek_cert_index, uint8_t *der, size_t *len);

/// The marshalled TPMT_PUBLIC of the EK that matches `ek_cert_index` (0 = ctpm_ek_find),
/// regenerated with TPM2_CreatePrimary in the endorsement hierarchy from the TCG template
/// and flushed. Its key equals the certificate's subject public key.
ctpm_rc ctpm_ek_public(ctpm_t *tpm, uint32_t ek_cert_index, uint8_t *ek_public, size_t *len);

// MARK: Attestation key and quote

/// Creates the AK (ATTESTATION.md §3) as a child of the EK that matches `ek_cert_index`
/// (0 = ctpm_ek_find): ECC NIST P-256, ECDSA with SHA-256, name algorithm SHA-256,
/// fixedTPM | fixedParent | sensitiveDataOrigin | userWithAuth | restricted | sign, empty
/// auth value and policy. Outputs its marshalled TPMT_PUBLIC and its name (nameAlg ‖
/// SHA-256(TPMT_PUBLIC), 34 bytes). The EK and the AK are flushed before returning; the
/// context keeps the AK's public and (parent-wrapped) private blobs in memory so that
/// ctpm_quote can reload it. A second call replaces the AK.
ctpm_rc ctpm_create_ak(ctpm_t *tpm, uint32_t ek_cert_index,
                       uint8_t *ak_public, size_t *ak_public_len,
                       uint8_t *ak_name, size_t *ak_name_len);

/// Creates the AK of ATTESTATION.md §3 as a *primary* key in the endorsement hierarchy
/// (same template as ctpm_create_ak): derived from the endorsement seed, so it is the
/// same key on every start of this TPM and its Name can be pinned; the quote's
/// qualifiedSigner is then 0x000b ‖ SHA-256(0x4000000b ‖ Name). Outputs its marshalled
/// TPMT_PUBLIC and Name and flushes it; ctpm_quote regenerates it. Replaces an AK made
/// by ctpm_create_ak. This is the AK the worker uses.
ctpm_rc ctpm_create_primary_ak(ctpm_t *tpm, uint8_t *ak_public, size_t *ak_public_len,
                               uint8_t *ak_name, size_t *ak_name_len);

/// TPM2_Quote with the AK over PCRs `pcrs` (n of them, strictly ascending, 0…23) of the
/// SHA-256 bank, with 32 bytes of qualifying data (ATTESTATION.md §1). Outputs the
/// TPMS_ATTEST (the TPM2B_ATTEST's contents; its PCR digest is SHA-256 of the selected
/// PCR values in ascending order) and the marshalled TPMT_SIGNATURE (ECDSA, SHA-256).
/// Regenerates the EK, loads the AK, flushes the EK, quotes and flushes the AK.
/// BAD_SEQUENCE if ctpm_create_ak has not succeeded on this context.
ctpm_rc ctpm_quote(ctpm_t *tpm, const uint8_t qualifying[32],
                   const uint32_t *pcrs, size_t n,
                   uint8_t *attest, size_t *attest_len,
                   uint8_t *sig, size_t *sig_len);

// MARK: Credential activation

/// Upper bound of a credential (TPM2B_DIGEST contents of ActivateCredential's certInfo).
#define CTPM_CREDENTIAL_MAX 64u

/// TPM2_ActivateCredential: proves to a verifier that the AK lives in the same TPM as the
/// certified EK. The verifier runs TPM2_MakeCredential in software (tpm2_makecredential
/// --tcti none) with the EK public key from the certificate at `ek_cert_index`, the AK's
/// Name and a secret; only this TPM can recover the secret, and only if the AK's Name
/// is the one the verifier used.
///
/// Uses the *primary* AK (ctpm_create_primary_ak): BAD_SEQUENCE if it has not been
/// created on this context (or if ctpm_create_ak replaced it). `ek_cert_index` 0 means
/// CTPM_EK_CERT_RSA2048 (0x01c00002), the EK to prefer for activation; the other known
/// indices are accepted too. `credential_blob` is a marshalled TPM2B_ID_OBJECT and
/// `encrypted_secret` a marshalled TPM2B_ENCRYPTED_SECRET, each exactly blob_len /
/// secret_len bytes (trailing bytes: BAD_VALUE). tpm2_makecredential's output file is an
/// 8-byte header (magic 0xBADCC0DE, version 1, big-endian) followed by these two
/// structures. Outputs the recovered credential (the TPM2B_DIGEST contents, at most
/// CTPM_CREDENTIAL_MAX bytes) in cert_info.
///
/// Regenerates the AK (activateHandle, empty password) and the EK (keyHandle, its policy
/// session PolicySecret(TPM_RH_ENDORSEMENT), or the empty password for the H-3 P-384 EK),
/// runs the command, flushes all of them, wipes its copies of the inputs and the
/// credential and scrubs ESAPI's response buffer. A credential made for another Name, or
/// with its credential blob altered, fails with TPM2_RC_INTEGRITY (parameter 1); one made
/// to another RSA key, or with its encrypted seed altered, fails when the seed does not
/// decrypt (swtpm/libtpms answers TPM2_RC_FAILURE, 0x101, for a failed OAEP decryption and
/// keeps working; other TPMs TPM2_RC_VALUE) or, if it decrypts to another seed, with
/// TPM2_RC_INTEGRITY; a secret of the wrong shape for the EK gives TPM2_RC_SIZE.
ctpm_rc ctpm_activate_credential(ctpm_t *tpm, uint32_t ek_cert_index,
                                 const uint8_t *credential_blob, size_t blob_len,
                                 const uint8_t *encrypted_secret, size_t secret_len,
                                 uint8_t *cert_info, size_t *cert_info_len);

// MARK: Sealing to a PCR

/// Seals a 32-byte secret under the storage primary key (ECC NIST P-256 SRK template,
/// owner hierarchy, regenerated and flushed per call) to a policy of TPM2_PolicyPCR on
/// PCR `pcr` of the SHA-256 bank. `expected_pcr` is the 32-byte PCR value the secret is
/// bound to; NULL binds it to the PCR's current value. Outputs the sealed object as a
/// marshalled TPM2B_PUBLIC and TPM2B_PRIVATE (the private part is wrapped by the SRK and
/// useless outside this TPM). The secret travels to the TPM encrypted (AES-128-CFB
/// parameter encryption in a session salted to the SRK). Wipes its copies of the secret.
ctpm_rc ctpm_seal(ctpm_t *tpm, uint32_t pcr, const uint8_t *expected_pcr, const uint8_t secret[32],
                  uint8_t *sealed_public, size_t *sealed_public_len,
                  uint8_t *sealed_private, size_t *sealed_private_len);

/// Loads a sealed object made by ctpm_seal and unseals it in a policy session
/// (TPM2_PolicyPCR on `pcr`, salted to the SRK, response encrypted) into secret[32].
/// When the PCR no longer has the sealed-to value the TPM refuses:
/// ctpm_rc_is_policy_failure(rc) is 1 and secret is zeroed. Wipes its own copy of the
/// secret and overwrites ESAPI's response buffer (which holds the decrypted response)
/// with a TPM2_GetRandom response; copies the TSS may make on its stack are out of reach.
ctpm_rc ctpm_unseal(ctpm_t *tpm, uint32_t pcr,
                    const uint8_t *sealed_public, size_t sealed_public_len,
                    const uint8_t *sealed_private, size_t sealed_private_len,
                    uint8_t secret[32]);

// MARK: Monotonic NV counter (docs/DURABILITY.md §5)

/// The NV index of the worker's rollback counter (owner range of the TCG handle registry).
#define CTPM_COUNTER_INDEX 0x01500023u
/// The TPMA_NV attributes the counter index has, apart from the TPM-set TPMA_NV_WRITTEN:
/// TPM_NT_COUNTER (0x10) | TPMA_NV_AUTHWRITE (0x4) | TPMA_NV_AUTHREAD (0x40000) |
/// TPMA_NV_NO_DA (0x2000000). Read and increment are authorized by the index's own auth
/// value, which is empty, so they work whatever the owner hierarchy's password; only the
/// definition needs owner authorization. Not TPMA_NV_ORDERLY: an orderly counter may jump
/// forward after an unorderly TPM reset (power loss), which would look like a rollback.
#define CTPM_COUNTER_ATTRIBUTES 0x02040014u
/// TPMA_NV_WRITTEN: set by the TPM once the counter has been incremented.
#define CTPM_NV_WRITTEN 0x20000000u
/// This library's own response-code layer (0xA0), for checks of its own that are neither
/// argument errors nor TPM responses. ctpm_error_string decodes them ("ctpm:…").
#define CTPM_RC_LAYER 0x00a00000u
/// The NV index exists but is not the counter ctpm_counter_open defines: other
/// attributes, a data size other than 8, a name algorithm other than SHA-256, or an
/// authorization policy. It is refused, never used (nor changed).
#define CTPM_RC_COUNTER_MISMATCH (CTPM_RC_LAYER | 1u)

/// Makes the counter at `index` (normally CTPM_COUNTER_INDEX, owner range
/// 0x01400000…0x017fffff) ready and outputs its value:
///  - absent: TPM2_NV_DefineSpace with owner authorization (the empty password), an empty
///    auth value, CTPM_COUNTER_ATTRIBUTES, SHA-256 names, no policy, 8 bytes; *defined = 1;
///  - present: its public area must match exactly (else CTPM_RC_COUNTER_MISMATCH with
///    the found TPMA_NV in *attributes); *defined = 0;
///  - never incremented (just defined, or defined before a crash, or by an operator): one
///    TPM2_NV_Increment, since such an index cannot be read (TPM_RC_NV_UNINITIALIZED).
/// Then reads it. A TPM whose owner hierarchy has a password fails the definition with
/// TPM_RC_BAD_AUTH (ctpm_rc_is_bad_auth); an index defined with a non-empty auth value
/// fails the read or increment the same way. A new counter starts above the largest value
/// any counter of this TPM ever had (deleted ones and those before TPM2_Clear included),
/// so deleting and redefining the index never takes its value backwards.
/// *attributes is the index's TPMA_NV (TPMA_NV_WRITTEN included) once it was read, and 0
/// when the call failed before that (so a TPM_RC_BAD_AUTH with *attributes 0 is the
/// owner's password, with *attributes set the index's own).
ctpm_rc ctpm_counter_open(ctpm_t *tpm, uint32_t index, uint64_t *value, uint32_t *attributes, int *defined);

/// TPM2_NV_Read of the counter's 8 bytes (big-endian) with the index's empty auth value,
/// after checking its public area as ctpm_counter_open does (CTPM_RC_COUNTER_MISMATCH), so
/// an index deleted and redefined as something else between calls is never believed. An
/// index that does not exist: TPM_RC_HANDLE (from TPM2_NV_ReadPublic); one never
/// incremented: TPM_RC_NV_UNINITIALIZED.
ctpm_rc ctpm_counter_read(ctpm_t *tpm, uint32_t index, uint64_t *value);

/// TPM2_NV_Increment of the counter (index auth, empty password), then ctpm_counter_read:
/// outputs the new value. The increment is durable in the TPM's NV when this returns.
ctpm_rc ctpm_counter_increment(ctpm_t *tpm, uint32_t index, uint64_t *value);

/// 1 if rc is the TPM's TPM2_RC_BAD_AUTH or TPM2_RC_AUTH_FAIL (for any session or handle):
/// a password did not match. 0 otherwise.
int ctpm_rc_is_bad_auth(ctpm_rc rc);

#ifdef __cplusplus
}
#endif

#endif
