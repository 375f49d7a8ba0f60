import Attestation
import KeyEnrollment
import SealCrypto
import Wire

extension EnclaveIdentity {
    /// What a peer enclave must match (docs/REPLICATION.md §11.2): this build, config, mode,
    /// PCR and loaded objects, with the config's enrollment EK roots.
    public var enrollmentFacts: EnclaveFacts {
        EnclaveFacts(
            measurement: measurement, configHash: configHash, mode: mode, pcr: measurementPCR,
            loadedObjects: loadedObjects, ekRoots: config.enrollment.ekRoots,
            swtpmEKRoots: config.enrollment.swtpmEKRoots)
    }
}

/// The primary's side of key enrollment (docs/REPLICATION.md §11.4): frames 0x07 and
/// 0x08 on the client protocol. A refusal is `Refusal enrollmentRefused` with the
/// `EnrollmentRefusal` code as its reference; nothing secret is in it.
extension Worker {
    func handleEnrollChallengeRequest(route: UInt32, body: UnsafeRawBufferPointer, output: inout LinkBatchWriter) {
        guard let request = try? EnrollChallengeRequest.decode(body: body) else {
            return refuseEnrollment(route: route, type: .enrollChallengeRequest, .malformedMessage, output: &output)
        }
        let now = stamp()
        let identity = self.identity
        do throws(EnrollmentRefusal) {
            let answer = try enrollment.challenge(request, hasStorageKey: identity.storageKey != nil, now: now) { nonce in
                try identity.evidence(nonce: nonce, enclaveTime: now).encoded()
            }
            counters.evidenceServed += 1
            output.append(route: route, frame: answer.encode(as: .enrollChallenge))
        } catch {
            refuseEnrollment(route: route, type: .enrollChallengeRequest, error, output: &output)
        }
    }

    func handleEnrollRequest(route: UInt32, body: UnsafeRawBufferPointer, output: inout LinkBatchWriter) {
        guard let request = try? EnrollChallenge.decode(body: body) else {
            return refuseEnrollment(route: route, type: .enrollRequest, .malformedMessage, output: &output)
        }
        do throws(EnrollmentRefusal) {
            let grant = try enrollment.grant(
                request, now: stamp(), storageKey: identity.storageKey, primaryKey: identity.sessionKey,
                signer: identity.signer.address.bytes, recordSequence: lastRecordSequence, counter: lastCloseCounter)
            output.append(route: route, frame: grant.encode())
        } catch {
            refuseEnrollment(route: route, type: .enrollRequest, error, output: &output)
        }
    }

    private func refuseEnrollment(
        route: UInt32, type: MessageType, _ why: EnrollmentRefusal, output: inout LinkBatchWriter
    ) {
        counters.countRefusal(.enrollmentRefused)
        output.append(
            route: route,
            frame: Refusal(refused: type, sessionID: 0, reference: UInt64(why.rawValue), reason: .enrollmentRefused).encode())
    }
}
