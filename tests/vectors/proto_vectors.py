#!/usr/bin/env python3
"""The test vectors of the activation protocol AKM-ACT-1 (docs/protocol.md),
computed from the page alone with Python's `cryptography` (P-256 ECDH,
ChaCha20-Poly1305) and the standard library (SHA-256, HMAC); XChaCha20 is
HChaCha20 (below) plus ChaCha20-Poly1305-IETF.  Nothing of the C code is
used: tests/unit/lib/test_proto.c checks the C code against this output.

  proto_vectors.py                 every input, intermediate and message
  proto_vectors.py --markdown      section 8 of docs/protocol.md
  proto_vectors.py --c-header      tests/vectors/proto_vectors.h
  proto_vectors.py --write ROOT    writes both into the source tree ROOT
  proto_vectors.py --check ROOT    exit 0 when both in ROOT are this output,
                                   1 when not, 77 (skipped) without
                                   `cryptography`
"""
import hashlib
import hmac
import struct
import sys

import vectorlib
from vectorlib import H, lv8, u8, u16, u32, u64

SKIP = 77
try:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
except ImportError:  # pragma: no cover
    if "--check" in sys.argv:
        print("proto_vectors.py: the Python package cryptography is missing: skipped")
        sys.exit(SKIP)
    raise

HEADER_PATH = "tests/vectors/proto_vectors.h"
DOC_PATH = "docs/protocol.md"
DOC_SECTION = "## 8. Test vectors"


# ---- primitives (docs/protocol.md §3, "Notation") ---------------------------

def HMAC(k, *parts): return hmac.new(k, b"".join(parts), hashlib.sha256).digest()


def Expand(prk, label, ctx):
    """HKDF-Expand(PRK, "AKM-ACT-1 " || label || 00 || ctx, 32): one block."""
    info = b"AKM-ACT-1 " + label + b"\x00" + ctx
    return HMAC(prk, info, b"\x01")


def _rotl(v, c): return ((v << c) & 0xffffffff) | (v >> (32 - c))


def hchacha20(key, n16):
    """draft-irtf-cfrg-xchacha §2.2: the ChaCha20 rounds without the final
    addition; the subkey is state words 0-3 and 12-15."""
    s = [0x61707865, 0x3320646e, 0x79622d32, 0x6b206574] + \
        list(struct.unpack("<8I", key)) + list(struct.unpack("<4I", n16))

    def qr(a, b, c, d):
        s[a] = (s[a] + s[b]) & 0xffffffff; s[d] = _rotl(s[d] ^ s[a], 16)
        s[c] = (s[c] + s[d]) & 0xffffffff; s[b] = _rotl(s[b] ^ s[c], 12)
        s[a] = (s[a] + s[b]) & 0xffffffff; s[d] = _rotl(s[d] ^ s[a], 8)
        s[c] = (s[c] + s[d]) & 0xffffffff; s[b] = _rotl(s[b] ^ s[c], 7)
    for _ in range(10):
        qr(0, 4, 8, 12); qr(1, 5, 9, 13); qr(2, 6, 10, 14); qr(3, 7, 11, 15)
        qr(0, 5, 10, 15); qr(1, 6, 11, 12); qr(2, 7, 8, 13); qr(3, 4, 9, 14)
    return struct.pack("<8I", *(s[0:4] + s[12:16]))


def AEAD(k, n24, p, a):
    """XChaCha20-Poly1305-IETF: ciphertext || 16-byte tag."""
    assert len(k) == 32 and len(n24) == 24
    return ChaCha20Poly1305(hchacha20(k, n24[:16])).encrypt(bytes(4) + n24[16:], p, a)


def AEAD_open(k, n24, c, a):
    return ChaCha20Poly1305(hchacha20(k, n24[:16])).decrypt(bytes(4) + n24[16:], c, a)


def self_test():
    """The draft's published vectors: HChaCha20 (§2.2.1) and the AEAD (A.3.1)."""
    sub = hchacha20(bytes(range(32)), bytes.fromhex("000000090000004a0000000031415927"))
    assert sub.hex() == "82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc", sub.hex()
    pt = (b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip "
          b"for the future, sunscreen would be it.")
    ct = AEAD(bytes(range(0x80, 0xa0)), bytes(range(0x40, 0x58)), pt, bytes.fromhex("50515253c0c1c2c3c4c5c6c7"))
    assert ct.hex() == ("bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb"
                        "731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452"
                        "2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9"
                        "21f9664c97637da9768812f615c68b13b52e"
                        "c0875924c1c7987947deafd8780acf49"), ct.hex()


def frame(type_, body):
    """§2: magic "AK", version 1, type, u16 body length, body."""
    assert len(body) <= 1024
    return b"AK" + u8(1) + u8(type_) + u16(len(body)) + body


def point(priv):
    return priv.public_key().public_bytes(serialization.Encoding.X962,
                                          serialization.PublicFormat.UncompressedPoint)


# ---- the fixed inputs ------------------------------------------------------

def inputs():
    return dict(
        x=bytes([0x41] * 32),                 # the node's ephemeral scalar
        y=bytes([0x52] * 32),                 # the station's ephemeral scalar
        n_i=bytes(range(0x00, 0x10)),
        n_r=bytes(range(0x10, 0x20)),
        n_c=bytes(range(0x20, 0x38)),         # cookie nonce
        t_issue=1700000000000,                # ms
        k_cookie=bytes(range(0x40, 0x60)),
        k_pr_mac=bytes(range(0x60, 0x80)),    # the PR's MAC key
        pr_id=bytes(range(0x80, 0x90)),
        node_id=bytes(range(0x90, 0xa0)),
        hw=b"hw-serial-A",
        op=0x01,                              # activate
        station_id=bytes(range(0xa0, 0xb0)),
        result=0x00,                          # accepted
        status=0x04,                          # CKV_AKM_STATUS_ACTIVATED
        challenge=bytes(range(0xb0, 0xd0)),
        # The node's second record (counter 1, to show the counter in the
        # nonce): a REPORT of two events, the second with an empty detail.
        events=[(1, 3, 1700000100, b"user PIN, slot 0"), (5, 1, 1700000200, b"")],
        # A check-in's VERIFY (record 2) with the check-in report: one held
        # ASR with its sealed count, the node's audit sequence number the
        # events cover, two aggregated events (a forged ASR message from
        # sender 3, a wrong PIN about no ASR).
        held=[(b"asr-one", 3, 1500)],
        through=4242,
        cevents=[(7, 12, 1700000300, 3, 3, b"asr-one"), (1, 2, 1700000400, 0xffffffff, 0, b"")],
        done_result=0x00,                     # verified
        done_status=0x05,                     # CKV_AKM_STATUS_VERIFIED
        done_n=2,
    )


# ---- the protocol, from docs/protocol.md §3-4 -------------------------------

HELLO, CHALLENGE, PROOF, RESULT, RECORD = 1, 2, 3, 4, 5
REC_VERIFY, REC_REPORT, REC_DONE = 0x01, 0x02, 0x81


def compute():
    i = inputs()
    v = {}  # name -> bytes, in the order of the protocol
    curve = ec.SECP256R1()
    x = ec.derive_private_key(int.from_bytes(i["x"], "big"), curve)
    y = ec.derive_private_key(int.from_bytes(i["y"], "big"), curve)

    # Message 1
    v["G_X"] = point(x)
    v["msg1"] = msg1 = frame(HELLO, i["n_i"] + v["G_X"])
    # Message 2
    v["G_Y"] = point(y)
    z = y.exchange(ec.ECDH(), x.public_key())
    assert z == x.exchange(ec.ECDH(), y.public_key())
    v["Z"] = z
    v["TH_2"] = th2 = H(msg1, i["n_r"], v["G_Y"])
    v["PRK_2e"] = prk2e = HMAC(th2, z)
    v["cookie"] = cookie = i["n_c"] + AEAD(i["k_cookie"], i["n_c"], u64(i["t_issue"]) + prk2e + th2,
                                           b"AKM-ACT-1 cookie")
    assert len(cookie) == 112
    v["msg2"] = frame(CHALLENGE, i["n_r"] + v["G_Y"] + cookie)
    # Message 3
    v["TH_3"] = th3 = H(th2, cookie)
    v["K_3"] = k3 = Expand(prk2e, b"k3", th3)
    v["ID"] = idb = u8(i["op"]) + lv8(i["pr_id"]) + lv8(i["node_id"]) + lv8(i["hw"])
    v["TH_3m"] = th3m = H(th3, idb)
    v["psk_msg"] = psk_msg = b"AKM-ACT-1 psk" + prk2e
    v["PRK_3"] = prk3 = HMAC(i["k_pr_mac"], psk_msg)
    v["MAC_3"] = mac3 = Expand(prk3, b"mac3", th3m)
    v["msg3"] = frame(PROOF, cookie + AEAD(k3, bytes(24), idb + mac3, th3))
    # Message 4
    v["TH_4"] = th4 = H(th3m, mac3)
    v["K_4"] = k4 = Expand(prk3, b"k4", th4)
    r = u8(i["result"]) + u8(i["status"]) + lv8(i["station_id"])
    ch = i["challenge"]
    v["msg4"] = frame(RESULT, ch + AEAD(k4, ch[:24], r, th4 + ch))
    v["K_n2s"] = k_n2s = Expand(prk3, b"n2s", th4)
    v["K_s2n"] = k_s2n = Expand(prk3, b"s2n", th4)

    # Records: body = AEAD(K_dir, 0^16 || u64(i), type || payload, header)
    def record(key, counter, rtype, payload):
        hdr = b"AK" + u8(1) + u8(RECORD) + u16(1 + len(payload) + 16)
        return hdr + AEAD(key, bytes(16) + u64(counter), u8(rtype) + payload, hdr)

    v["proof"] = proof = HMAC(i["k_pr_mac"], b"AKM-VERIFY-1", lv8(i["node_id"]), lv8(i["pr_id"]), ch)
    v["verify_payload"] = proof
    v["rec_n2s_0"] = record(k_n2s, 0, REC_VERIFY, proof)
    events = b"".join(u16(kind) + u32(count) + u64(t) + lv8(detail)
                      for kind, count, t, detail in i["events"])
    v["report_payload"] = report = proof + u16(len(i["events"])) + events
    v["rec_n2s_1"] = record(k_n2s, 1, REC_REPORT, report)
    held = b"".join(lv8(a) + u32(g) for a, g, _ in i["held"])
    sealed = b"".join(u32(n) for _, _, n in i["held"])
    cevents = b"".join(u8(kind) + u32(count) + u64(t) + u32(sender) + u32(gen) + lv8(asr)
                       for kind, count, t, sender, gen, asr in i["cevents"])
    v["checkin_report"] = checkin = (proof + u8(len(i["held"])) + held + sealed + u64(i["through"])
                                      + u8(len(i["cevents"])) + cevents)
    v["rec_n2s_2"] = record(k_n2s, 2, REC_VERIFY, checkin)
    v["done_payload"] = done = u8(i["done_result"]) + u8(i["done_status"]) + u16(i["done_n"])
    v["rec_s2n_0"] = record(k_s2n, 0, REC_DONE, done)

    # The receiving side's view: every message opens with the other's keys.
    assert AEAD_open(i["k_cookie"], cookie[:24], cookie[24:], b"AKM-ACT-1 cookie")[8:40] == prk2e
    assert AEAD_open(k4, ch[:24], v["msg4"][6 + 32:], th4 + ch) == r
    return i, v


# ---- output ----------------------------------------------------------------

INPUT_NAMES = ["x", "y", "n_i", "n_r", "n_c", "k_cookie", "k_pr_mac", "pr_id", "node_id", "hw",
               "station_id", "challenge"]
OUTPUT_NAMES = ["G_X", "msg1", "G_Y", "Z", "TH_2", "PRK_2e", "cookie", "msg2", "TH_3", "K_3", "ID",
                "TH_3m", "psk_msg", "PRK_3", "MAC_3", "msg3", "TH_4", "K_4", "msg4", "K_n2s", "K_s2n",
                "proof", "rec_n2s_0", "report_payload", "rec_n2s_1", "checkin_report", "rec_n2s_2",
                "done_payload", "rec_s2n_0"]
DESCRIPTIONS = {
    "x": "the node's ephemeral P-256 scalar",
    "y": "the station's ephemeral P-256 scalar",
    "n_c": "cookie nonce",
    "k_pr_mac": "K_PR_mac, the PR's MAC key",
    "hw": "hardware value",
    "G_X": "x·G",
    "G_Y": "y·G",
    "Z": "ECDH x-coordinate",
    "ID": "op || lv8(PR ID) || lv8(node ID) || lv8(hw)",
    "psk_msg": "\"AKM-ACT-1 psk\" || PRK_2e",
    "PRK_3": "HMAC(K_PR_mac, psk_msg)",
    "proof": "HMAC(K_PR_mac, \"AKM-VERIFY-1\" || lv8(node ID) || lv8(PR ID) || challenge)",
    "rec_n2s_0": "node record 0: VERIFY (01), payload = proof",
    "report_payload": "proof || u16 2 || 2 events",
    "rec_n2s_1": "node record 1: REPORT (02)",
    "checkin_report": "proof || u8 1 || held || u32 sealed || u64 through || u8 2 || 2 check-in events",
    "rec_n2s_2": "node record 2: VERIFY (01) of a check-in with its report",
    "done_payload": "result || status || u16 n",
    "rec_s2n_0": "station record 0: DONE (81)",
}


def wrap(name, b, width=64):
    return vectorlib.wrap(name, b, width, 14)


def scalar_lines(i):
    return ["t_issue        %d (ms)" % i["t_issue"],
            "op             %02x (activate)" % i["op"],
            "result         %02x, status %02x (CKV_AKM_STATUS_ACTIVATED)" % (i["result"], i["status"]),
            ] + ["event %d        kind %d, count %d, time %d, detail \"%s\""
                 % (k + 1, kind, count, t, detail.decode()) for k, (kind, count, t, detail)
                 in enumerate(i["events"])] + [
            "held 1         ASR \"%s\", generation %d, sealed %d" % (a.decode(), g, n) for a, g, n in i["held"]] + [
            "through        %d" % i["through"]] + [
            "c-event %d      kind %d, count %d, time %d, sender %d, gen %d, ASR \"%s\""
            % (k + 1, kind, count, t, sender, gen, asr.decode()) for k, (kind, count, t, sender, gen, asr)
            in enumerate(i["cevents"])] + [
            "DONE           result %02x, status %02x (CKV_AKM_STATUS_VERIFIED), n %d"
            % (i["done_result"], i["done_status"], i["done_n"])]


def plain_text():
    i, v = compute()
    out = ["# inputs"] + scalar_lines(i)
    for n in INPUT_NAMES:
        out += wrap(n, i[n])
    out.append("# outputs")
    for n in OUTPUT_NAMES:
        out += wrap(n, v[n])
    return "\n".join(out) + "\n"


def markdown():
    i, v = compute()
    out = [DOC_SECTION, "",
           "Generated by `python3 tests/vectors/proto_vectors.py --markdown` (written",
           "here with `--write .`), which implements this page with Python's",
           "`cryptography` and checks its XChaCha20-Poly1305 against the published",
           "vectors of draft-irtf-cfrg-xchacha; `tests/unit/lib/test_proto.c` checks",
           "every value against the C code (through `tests/vectors/proto_vectors.h`,",
           "the script's `--c-header`), and the test `proto-vectors` checks that",
           "this section and the header are the script's output.",
           "",
           "Inputs (the scalars x and y stand for the tokens' ephemeral keys; a",
           "REPORT record, sent as the node's record 1, shows the counter in the",
           "nonce and the events' encoding; a check-in's VERIFY with its report,",
           "as record 2, the check-in events' encoding):",
           "", "```"]
    out += scalar_lines(i)
    for n in INPUT_NAMES:
        out += wrap(n, i[n])
    out += ["```", "", "Outputs (the messages are whole frames, header included):", "", "```"]
    for n in OUTPUT_NAMES:
        out += wrap(n, v[n])
    out += ["```", "", "Where the names are not those of section 3:", ""]
    for n in OUTPUT_NAMES + INPUT_NAMES:
        if n in DESCRIPTIONS:
            out.append("- `%s`: %s" % (n, DESCRIPTIONS[n].replace("||", "‖")))
    return "\n".join(out) + "\n"


def c_array(name, b):
    return vectorlib.c_array("PV", name, b)


def c_header():
    i, v = compute()
    out = ["/* Generated by tests/vectors/proto_vectors.py --c-header: do not edit.",
           " * The test vectors of docs/protocol.md section 8 (AKM-ACT-1). */",
           "#ifndef AKM_TEST_PROTO_VECTORS_H", "#define AKM_TEST_PROTO_VECTORS_H", "",
           "#include <stdint.h>", "",
           "/* inputs */",
           "#define PV_T_ISSUE %dULL" % i["t_issue"],
           "#define PV_OP 0x%02x" % i["op"],
           "#define PV_RESULT 0x%02x" % i["result"],
           "#define PV_STATUS 0x%02x" % i["status"],
           "#define PV_DONE_RESULT 0x%02x" % i["done_result"],
           "#define PV_DONE_STATUS 0x%02x" % i["done_status"],
           "#define PV_DONE_N %d" % i["done_n"],
           "#define PV_NEVENTS %d" % len(i["events"])]
    for k, (kind, count, t, detail) in enumerate(i["events"]):
        out += ["#define PV_EVENT%d_KIND %d" % (k, kind), "#define PV_EVENT%d_COUNT %d" % (k, count),
                "#define PV_EVENT%d_TIME %dULL" % (k, t), "#define PV_EVENT%d_DETAIL \"%s\"" % (k, detail.decode())]
    out += ["#define PV_THROUGH %dULL" % i["through"], "#define PV_NHELD %d" % len(i["held"]),
            "#define PV_NCEVENTS %d" % len(i["cevents"])]
    for k, (a, g, n) in enumerate(i["held"]):
        out += ["#define PV_HELD%d_ASR \"%s\"" % (k, a.decode()), "#define PV_HELD%d_GEN %d" % (k, g),
                "#define PV_HELD%d_SEALED %d" % (k, n)]
    for k, (kind, count, t, sender, gen, asr) in enumerate(i["cevents"]):
        out += ["#define PV_CEVENT%d_KIND %d" % (k, kind), "#define PV_CEVENT%d_COUNT %d" % (k, count),
                "#define PV_CEVENT%d_TIME %dULL" % (k, t), "#define PV_CEVENT%d_SENDER %du" % (k, sender),
                "#define PV_CEVENT%d_GEN %d" % (k, gen), "#define PV_CEVENT%d_ASR \"%s\"" % (k, asr.decode())]
    for n in INPUT_NAMES:
        if n in ("x", "y"):
            continue  # the C side gets the points and Z
        out += c_array(n, i[n])
    out.append("")
    out.append("/* outputs */")
    for n in OUTPUT_NAMES:
        out += c_array(n, v[n])
    out += ["", "#endif"]
    return "\n".join(out) + "\n"


def main(argv):
    self_test()
    return vectorlib.main(argv, "proto_vectors.py", DOC_PATH, HEADER_PATH, DOC_SECTION, "section 8", plain_text, markdown,
                          c_header, __doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
