import Foundation

/// A scratch directory where test certificates are made with the `openssl` command-line
/// tool: P-256 keys, self-signed roots, intermediates and EK leaves with the TCG EK
/// extensions (as swtpm_cert writes them). The directory goes away with the value.
public final class TestCA: Sendable {
    public let directory: URL

    /// `tpmModel` is the TPM model string in the EK's subject alternative name.
    public init(label: String, tpmModel: String) throws {
        directory = try makeScratchDirectory(label)
        try Self.config(tpmModel: tpmModel).write(
            to: directory.appendingPathComponent("ca.cnf"), atomically: true, encoding: .utf8)
        try "".write(to: directory.appendingPathComponent("index.txt"), atomically: true, encoding: .utf8)
        try "10\n".write(to: directory.appendingPathComponent("serial"), atomically: true, encoding: .utf8)
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    /// Runs `openssl ARGS` in the directory; throws with its stderr and an install hint.
    public func openssl(_ arguments: [String]) throws {
        let output = try runTool(try executable("openssl", package: "openssl"), arguments, in: directory)
        guard output.status == 0 else {
            throw ToolFailure(
                "openssl \(arguments.joined(separator: " ")) exited \(output.status): \(output.stderr)"
                    + " (the tests need the openssl command-line tool: apt-get install openssl)")
        }
    }

    /// A P-256 key in `NAME.key`.
    public func key(_ name: String) throws {
        try openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "\(name).key"])
    }

    /// A self-signed CA certificate for `NAME.key` in `NAME.pem`, valid ten years.
    public func root(_ name: String, subject: String) throws {
        try openssl([
            "req", "-x509", "-new", "-key", "\(name).key", "-subj", subject, "-days", "3650",
            "-config", "ca.cnf", "-extensions", "v3_root", "-out", "\(name).pem",
        ])
    }

    /// A certificate request for `KEY.key` in `OUT.csr`.
    public func request(key: String, subject: String, out: String) throws {
        try openssl(["req", "-new", "-key", "\(key).key", "-subj", subject, "-config", "ca.cnf", "-out", "\(out).csr"])
    }

    /// `REQUEST.csr` signed by `ISSUER.pem`/`ISSUER.key` into `OUT.pem`, valid ten years,
    /// with the config section `extensions` (`v3_intermediate`, `v3_ek`, …).
    public func sign(request: String, issuer: String, serial: Int, extensions: String, out: String) throws {
        try openssl([
            "x509", "-req", "-in", "\(request).csr", "-CA", "\(issuer).pem", "-CAkey", "\(issuer).key",
            "-set_serial", "\(serial)", "-days", "3650", "-extfile", "ca.cnf", "-extensions", extensions,
            "-out", "\(out).pem",
        ])
    }

    /// The text of a file in the directory.
    public func read(_ file: String) throws -> String {
        try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
    }

    static func config(tpmModel: String) -> String {
        """
        [ req ]
        distinguished_name = dn
        prompt = no
        [ dn ]
        CN = unused
        [ v3_root ]
        basicConstraints = critical, CA:TRUE
        keyUsage = critical, keyCertSign, cRLSign
        subjectKeyIdentifier = hash
        [ v3_intermediate ]
        basicConstraints = critical, CA:TRUE, pathlen:0
        keyUsage = critical, keyCertSign, cRLSign
        subjectKeyIdentifier = hash
        authorityKeyIdentifier = keyid:always
        [ v3_ek ]
        basicConstraints = critical, CA:FALSE
        keyUsage = critical, keyEncipherment
        extendedKeyUsage = 2.23.133.8.1
        subjectAltName = critical, dirName:tcg_san
        2.5.29.9 = DER:3016301406056781050210310b30090c03322e30020100
        authorityKeyIdentifier = keyid:always
        [ v3_unknown_critical ]
        basicConstraints = critical, CA:FALSE
        1.3.6.1.4.1.55555.1 = critical, DER:0500
        [ tcg_san ]
        a.2.23.133.2.1 = id:00001014
        b.2.23.133.2.2 = \(tpmModel)
        c.2.23.133.2.3 = id:20191023
        [ ca ]
        default_ca = test_ca
        [ test_ca ]
        database = index.txt
        new_certs_dir = .
        serial = serial
        default_md = sha256
        policy = any
        unique_subject = no
        [ any ]
        commonName = optional
        """
    }
}
