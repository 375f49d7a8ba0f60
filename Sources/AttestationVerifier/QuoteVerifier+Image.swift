import Attestation

/// The measured-boot checks (docs/IMAGE.md §7): the firmware event log replays to the
/// quoted PCRs, and the image it records is the one the policy predicts. All pass as "not
/// applicable" when the policy has no `image`.
extension QuoteVerifier {
    /// Which checks a predicted component belongs to.
    static func imageCheck(for component: String) -> AttestationCheckName {
        switch component {
        case "kernel", "section .linux", "section .linux name": .imageKernel
        case "initrd", "section .initrd", "section .initrd name": .imageInitrd
        case "load options", "section .cmdline", "section .cmdline name": .imageCmdline
        default: .imageUKI
        }
    }

    /// The check that owns an unexpected extra event on a PCR.
    static func imageCheck(forExtraOn pcr: Int) -> [AttestationCheckName] {
        switch pcr {
        case 9: [.imageInitrd, .imageCmdline]
        case 12: [.imageCmdline]
        default: [.imageUKI]
        }
    }

    func imageExpected(_ name: AttestationCheckName) -> String {
        guard let image = policy.image else { return "no image in the policy" }
        switch name {
        case .bootEventLog:
            return "a crypto-agile firmware event log replaying to every quoted PCR of 4, 9, 11, 12 and "
                + (policy.bootPCRValues.keys.sorted().map(String.init).joined(separator: ", "))
        case .imagePCRs:
            return ImageMeasurement.predictedPCRs.map { "\($0)=\(image.pcrs[String($0)] ?? "?")" }.joined(separator: " ")
        case .imageUKI: return "UKI \(image.uki)"
        case .imageKernel: return "kernel \(image.kernel)"
        case .imageInitrd, .imageCmdline:
            let events = image.events.filter { Self.imageCheck(for: $0.component) == name }
            return events.filter { !$0.component.hasSuffix(" name") }.map { "\($0.component) \($0.digest)" }
                .joined(separator: ", ")
        default: return ""
        }
    }

    func evaluateImage(_ name: AttestationCheckName, _ inputs: Inputs) throws(Unavailable) -> Outcome {
        _ = try need(inputs.evidence, "the evidence")
        guard let image = policy.image else {
            return Outcome(true, "not applicable", "the policy names no appliance image")
        }
        let values = try need(inputs.pcrValues, "the PCR values")
        switch name {
        case .bootEventLog:
            guard inputs.evidence?.bootEventLog != nil else {
                return Outcome(false, "absent", "the evidence carries no firmware event log: not booted from an image")
            }
            let log = try need(inputs.bootLog, "the firmware event log")
            let replayed = log.replaySHA256()
            let checked = Set(ImageMeasurement.predictedPCRs).union(policy.bootPCRValues.keys).sorted()
            var problems: [String] = []
            for pcr in checked {
                guard let quoted = values[pcr] else {
                    problems.append("PCR \(pcr) not quoted")
                    continue
                }
                let fromLog = replayed[pcr] ?? TCGEventLog.resetValue(pcr, locality: log.startupLocality)
                if fromLog != quoted { problems.append("PCR \(pcr) replays to \(hexString(fromLog)), quoted \(hexString(quoted))") }
            }
            return Outcome(
                problems.isEmpty, "\(log.events.count) events, PCRs " + checked.map(String.init).joined(separator: ","),
                problems.isEmpty ? "the log is the one the quoted PCRs were extended with" : problems.joined(separator: "; "))

        case .imagePCRs:
            let wrong = ImageMeasurement.predictedPCRs.filter { values[$0] == nil || values[$0] != image.pcrValues[$0] }
            return wrong.isEmpty
                ? Outcome(true, "as predicted")
                : Outcome(
                    false, "PCRs " + wrong.map(String.init).joined(separator: ","),
                    "the quoted boot PCRs are not those of the policy's image")

        default:
            let log = try need(inputs.bootLog, "the firmware event log")
            var differing: [String] = []
            for pcr in ImageMeasurement.predictedPCRs {
                let predicted = image.events.filter { $0.pcr == pcr }
                let logged = log.events(on: pcr)
                for i in 0..<max(predicted.count, logged.count) {
                    if i < predicted.count, i < logged.count {
                        let p = predicted[i]
                        if Self.imageCheck(for: p.component) == name,
                            logged[i].type != p.type || logged[i].sha256.map(hexString) != p.digest.lowercased()
                        {
                            differing.append("\(p.component) (PCR \(pcr) event \(i + 1))")
                        }
                    } else if i < predicted.count {
                        if Self.imageCheck(for: predicted[i].component) == name {
                            differing.append("\(predicted[i].component) missing (PCR \(pcr))")
                        }
                    } else if Self.imageCheck(forExtraOn: pcr).contains(name) {
                        differing.append("unexpected \(TCGEventLog.typeName(logged[i].type)) on PCR \(pcr)")
                    }
                }
            }
            return differing.isEmpty
                ? Outcome(true, "as predicted")
                : Outcome(false, "differs", "the firmware log records another " + differing.joined(separator: ", "))
        }
    }
}
