#!/usr/bin/env python3
"""The test vectors of the operational ASR's formats (docs/asr.md §3),
computed from the page alone with Python's `cryptography` (AES-KWP =
RFC 5649, AES-256-GCM, AES-ECB, ECDSA P-256 with RFC 6979 deterministic
nonces) and the standard library (SHA-256).  Nothing of the C code is
used: the test asr-vectors (tests/unit/lib/test_asr_vectors.c) checks the C
encoders and parsers against this output, and checks the wrappings,
signatures and ciphertexts again with OpenSSL.

A three-member ASR of capacity 4 (depth 2): leaves 0, 1, 2.  The vectors:
member 1's enrollment package (generation 1), the rekey message to
generation 2 that removes member 0, member 1's message under generation 1
step 1, two ratchet steps, and member 2's state record after opening it
(version 2, marked dirty; and as version 1 wrote it).

  asr_vectors.py                 every input, intermediate and output
  asr_vectors.py --markdown      docs/asr.md §3.6
  asr_vectors.py --c-header      tests/vectors/asr_vectors.h
  asr_vectors.py --write ROOT    writes both into the source tree ROOT
  asr_vectors.py --check ROOT    exit 0 when both in ROOT are this output,
                                 1 when not, 77 (skipped) without
                                 `cryptography` (43 or later: RFC 6979)
"""
import sys

import vectorlib
from vectorlib import H, lv8, u8, u16, u32, u64

SKIP = 77
try:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding, aes_key_unwrap_with_padding
    ec.ECDSA(hashes.SHA256(), deterministic_signing=True)
except (ImportError, TypeError):  # pragma: no cover
    if "--check" in sys.argv:
        print("asr_vectors.py: Python's cryptography (43 or later) is missing: skipped")
        sys.exit(SKIP)
    raise

HEADER_PATH = "tests/vectors/asr_vectors.h"
DOC_PATH = "docs/asr.md"
DOC_SECTION = "### 3.6 Test vectors"


# ---- notation (docs/asr.md §3) ---------------------------------------------



MAGIC = b"AKMA"
VERSION = 1
STATE_VERSION = 2  # the member state: 2 adds the dirty mark (1 is still read, as clean)
PACKAGE, REKEY, MESSAGE, STATE = 1, 2, 3, 4
RATCHET = b"AKM-ASR-1 next 1" + b"AKM-ASR-1 next 2"
assert len(RATCHET) == 32


def start(t, version=VERSION): return MAGIC + u8(version) + u8(t)


def policy(p):
    return u32(p["period"]) + u32(p["grace"]) + u32(p["msg_limit"]) + u32(p["fail_limit"]) + \
        u8(p["join_rekeys"])


def member_hash(members):
    """SHA-256("AKM-ASR-1 members" || per member, ascending leaf: u32 leaf
    || u8 len || AKM ID)."""
    return H(b"AKM-ASR-1 members", *[u32(leaf) + lv8(mid) for leaf, mid in sorted(members)])


def head(i, gen, members):
    return lv8(i["station_id"]) + lv8(i["asr_id"]) + lv8(i["label"]) + u32(gen) + u32(i["step"]) + \
        u64(i["gen_start"][gen]) + policy(i["policy"]) + u8(i["depth"]) + u32(len(members)) + \
        member_hash(members) + u64(i["created"][gen])


def kwp(kek, key): return aes_key_wrap_with_padding(kek, key)


def ratchet(k):
    """Step s+1's key: CKM_AES_ECB_ENCRYPT_DATA(step s's key, RATCHET)."""
    e = Cipher(algorithms.AES(k), modes.ECB()).encryptor()
    return e.update(RATCHET) + e.finalize()


def sign(priv, signed):
    der = priv.sign(signed, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    r, s = decode_dss_signature(der)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def nonce(sender, seq): return u32(sender) + u64(seq)


# ---- the inputs ---------------------------------------------------------------

def seeded(what): return H(b"AKM-ASR-1 vector " + what)


def inputs():
    i = {
        "station_id": b"station-1",
        "asr_id": b"asr-7",
        "label": b"pumps west",
        "step": 0,
        "gen_start": {1: 1700000000, 2: 1700086400},
        "created": {1: 1700000010, 2: 1700086410},
        "policy": {"period": 3600, "grace": 60, "msg_limit": 1000, "fail_limit": 16384, "join_rekeys": 1},
        "depth": 2,
        "members": [(0, b"node-a"), (1, b"node-b"), (2, b"node-c")],
        "prs": {0: b"pr-a", 1: b"pr-b", 2: b"pr-c"},
        # RFC 6979 A.2.5's private key (the station's anchor key here).
        "station_scalar": 0xC9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721,
        "leaf_sent": 1, "seq": 5, "plain": b"open valve 7",
        "msg_gen": 1, "msg_step": 1,
        # The mark of the process that opened it (written with the opening:
        # it may open more before it writes again, docs/asr.md §5).
        "dirty": 0x5EA1ED0F0DDBA11,
    }
    # Leaf keys (the members' PR encryption keys, heap nodes 4..7) and
    # interior keys of generations 1 (nodes 1..3) and 2 (nodes 1, 2 new).
    i["pr_key"] = {leaf: seeded(b"pr %d" % leaf) for leaf in range(3)}
    i["g1"] = {n: seeded(b"gen 1 node %d" % n) for n in (1, 2, 3)}
    i["g2"] = {1: seeded(b"gen 2 node 1"), 2: seeded(b"gen 2 node 2"), 3: i["g1"][3]}
    return i


def compute():
    i = inputs()
    v = {}
    cap = 1 << i["depth"]
    priv = ec.derive_private_key(i["station_scalar"], ec.SECP256R1())
    v["station_point"] = priv.public_key().public_bytes(serialization.Encoding.X962,
                                                        serialization.PublicFormat.UncompressedPoint)

    def key_of(tree, n):
        return i["pr_key"][n - cap] if n >= cap else tree[n]

    v["member_hash_g1"] = member_hash(i["members"])
    v["member_hash_g2"] = member_hash(i["members"][1:])

    # The package of member 1 (leaf 1): edges child 5 (leaf) and 2.
    leaf = 1
    edges = []
    child = cap + leaf
    while child > 1:
        edges.append(kwp(key_of(i["g1"], child), key_of(i["g1"], child // 2)))
        child //= 2
    mid = dict(i["members"])[leaf]
    signed = start(PACKAGE) + head(i, 1, i["members"]) + lv8(mid) + lv8(i["prs"][leaf]) + u32(leaf) + \
        b"".join(edges)
    v["package_signed"] = signed
    v["package"] = signed + sign(priv, signed)

    # The rekey message to generation 2 removing leaf 0: new keys for nodes
    # 2 and 1; node 2's under leaf 1 (child 5), the root's under nodes 3
    # and 2; children descending.
    r_edges = [(5, kwp(i["pr_key"][1], i["g2"][2])),
               (3, kwp(i["g2"][3], i["g2"][1])),
               (2, kwp(i["g2"][2], i["g2"][1]))]
    signed = start(REKEY) + head(i, 2, i["members"][1:]) + u32(1) + u8(1) + u32(0) + u16(len(r_edges)) + \
        b"".join(u32(c) + w for c, w in r_edges)
    v["rekey_signed"] = signed
    v["rekey"] = signed + sign(priv, signed)

    # Steps of generation 1.
    v["step1_key"] = ratchet(i["g1"][1])
    v["step2_key"] = ratchet(v["step1_key"])

    # Member 1's message under generation 1 step 1, seq 5.
    hdr = start(MESSAGE) + lv8(i["asr_id"]) + u32(i["msg_gen"]) + u32(i["msg_step"]) + u32(i["leaf_sent"]) + \
        u64(i["seq"]) + u32(len(i["plain"]) + 16)
    assert len(hdr) == 31 + len(i["asr_id"])
    v["nonce"] = nonce(i["leaf_sent"], i["seq"])
    v["message"] = hdr + AESGCM(v["step1_key"]).encrypt(v["nonce"], i["plain"], hdr)

    # Member 2's state after opening it (seq 5 from sender 1; seq 3 before),
    # marked dirty by the process that opened it; and the same state as
    # version 1 wrote it (no mark: read as clean).
    fixed = lv8(i["station_id"]) + u32(2) + u8(i["depth"]) + u32(3) + v["member_hash_g1"] + \
        policy(i["policy"]) + u32(1) + u32(1) + u64(1700000000) + u64(1700003600) + u64(1700003660) + \
        u32(7) + u32(0)
    senders = u32(1) + u32(1) + u64(5) + u64(0b101)
    v["state"] = start(STATE, STATE_VERSION) + fixed + u64(i["dirty"]) + senders
    v["state_v1"] = start(STATE, 1) + fixed + senders
    return i, v


def self_test():
    """Checks this implementation's own pieces against each other: each
    edge unwraps to the next key, the message opens, the signatures verify."""
    i, v = compute()
    cap = 4
    p = v["package"]
    e0 = p[-64 - 80:-64 - 40]
    e1 = p[-64 - 40:-64]
    k2 = aes_key_unwrap_with_padding(i["pr_key"][1], e0)
    assert k2 == i["g1"][2]
    assert aes_key_unwrap_with_padding(k2, e1) == i["g1"][1]
    pub = ec.derive_private_key(i["station_scalar"], ec.SECP256R1()).public_key()
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
    for name in ("package", "rekey"):
        sig = v[name][-64:]
        pub.verify(encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")),
                   v[name + "_signed"], ec.ECDSA(hashes.SHA256()))
    hl = 31 + len(i["asr_id"])
    m = v["message"]
    assert AESGCM(v["step1_key"]).decrypt(v["nonce"], m[hl:], m[:hl]) == i["plain"]
    assert cap == 1 << i["depth"]


# ---- output -------------------------------------------------------------------

INPUT_KEYS = ["pr_key_0", "pr_key_1", "pr_key_2", "g1_node_1", "g1_node_2", "g1_node_3",
              "g2_node_1", "g2_node_2"]
OUTPUT_NAMES = ["station_point", "member_hash_g1", "member_hash_g2", "package", "rekey",
                "step1_key", "step2_key", "nonce", "message", "state", "state_v1"]


def key_inputs(i):
    return {"pr_key_0": i["pr_key"][0], "pr_key_1": i["pr_key"][1], "pr_key_2": i["pr_key"][2],
            "g1_node_1": i["g1"][1], "g1_node_2": i["g1"][2], "g1_node_3": i["g1"][3],
            "g2_node_1": i["g2"][1], "g2_node_2": i["g2"][2]}


def wrap(name, b, width=64):
    return vectorlib.wrap(name, b, width, 16)


def scalar_lines(i):
    p = i["policy"]
    return ["station_id       \"%s\"" % i["station_id"].decode(),
            "asr_id           \"%s\"" % i["asr_id"].decode(),
            "label            \"%s\"" % i["label"].decode(),
            "depth            %d (capacity 4)" % i["depth"],
            "members          " + ", ".join("leaf %d \"%s\" (PR \"%s\")" % (leaf, m.decode(), i["prs"][leaf].decode())
                                            for leaf, m in i["members"]),
            "policy           period %d, grace %d, msg_limit %d, fail_limit %d, join_rekeys %d"
            % (p["period"], p["grace"], p["msg_limit"], p["fail_limit"], p["join_rekeys"]),
            "generation 1     gen_start %d, created %d, step hint 0" % (i["gen_start"][1], i["created"][1]),
            "generation 2     gen_start %d, created %d, removes leaf 0" % (i["gen_start"][2], i["created"][2]),
            "station scalar   %064x" % i["station_scalar"],
            "message          sender %d, seq %d, generation %d step %d, plaintext \"%s\""
            % (i["leaf_sent"], i["seq"], i["msg_gen"], i["msg_step"], i["plain"].decode()),
            "dirty mark       %016x" % i["dirty"]]


def plain_text():
    i, v = compute()
    out = ["# inputs"] + scalar_lines(i)
    for n, b in key_inputs(i).items():
        out += wrap(n, b)
    out.append("# outputs")
    for n in OUTPUT_NAMES:
        out += wrap(n, v[n])
    return "\n".join(out) + "\n"


def markdown():
    i, v = compute()
    out = [DOC_SECTION, "",
           "Generated by `python3 tests/vectors/asr_vectors.py --markdown` (written",
           "here with `--write .`), which implements this section with Python's",
           "`cryptography`; the test `asr-vectors` checks the C encoders and parsers",
           "against every value (through `tests/vectors/asr_vectors.h`, the script's",
           "`--c-header`) and the wrappings, signatures and ciphertext again with",
           "OpenSSL, and `asr-vectors-script` that this section and the header are",
           "the script's output.  Signatures are RFC 6979 (deterministic) ECDSA.",
           "",
           "A three-member ASR of capacity 4: member 1's package of generation 1",
           "(edges: child 5 = node 2's key under PR key 1, child 2 = the root's",
           "under node 2's); the rekey message to generation 2 removing leaf 0",
           "(edges: child 5 = new node 2 under PR key 1, child 3 = new root under",
           "node 3, child 2 = new root under new node 2); member 1's message under",
           "generation 1 step 1 (step 1's key = the ratchet of the root); member 2's",
           "state after opening it (sender 1: high 5, bitmap 101b: seq 3 and 5),",
           "version 2 with the dirty mark of the process that opened it, and the",
           "same state as version 1 wrote it (`state_v1`, no mark: read as clean).",
           "Keys are SHA-256(\"AKM-ASR-1 vector \" || what), e.g. `pr 1`,",
           "`gen 1 node 2`.",
           "", "```"]
    out += scalar_lines(i)
    for n, b in key_inputs(i).items():
        out += wrap(n, b)
    out += ["```", "", "Outputs (package and rekey message with their signatures):", "", "```"]
    for n in OUTPUT_NAMES:
        out += wrap(n, v[n])
    out += ["```", ""]
    return "\n".join(out) + "\n"


def c_array(name, b):
    return vectorlib.c_array("AV", name, b)


def c_header():
    i, v = compute()
    p = i["policy"]
    out = ["/* Generated by tests/vectors/asr_vectors.py --c-header: do not edit.",
           " * The test vectors of docs/asr.md section 3.6 (the ASR formats). */",
           "#ifndef AKM_TEST_ASR_VECTORS_H", "#define AKM_TEST_ASR_VECTORS_H", "",
           "#include <stdint.h>", "",
           "/* inputs */",
           "#define AV_STATION_ID \"%s\"" % i["station_id"].decode(),
           "#define AV_ASR_ID \"%s\"" % i["asr_id"].decode(),
           "#define AV_LABEL \"%s\"" % i["label"].decode(),
           "#define AV_DEPTH %d" % i["depth"],
           "#define AV_PERIOD %d" % p["period"], "#define AV_GRACE %d" % p["grace"],
           "#define AV_MSG_LIMIT %d" % p["msg_limit"], "#define AV_FAIL_LIMIT %d" % p["fail_limit"],
           "#define AV_JOIN_REKEYS %d" % p["join_rekeys"],
           "#define AV_GEN_START_1 %dULL" % i["gen_start"][1], "#define AV_GEN_START_2 %dULL" % i["gen_start"][2],
           "#define AV_CREATED_1 %dULL" % i["created"][1], "#define AV_CREATED_2 %dULL" % i["created"][2],
           "#define AV_MEMBER_0 \"%s\"" % i["members"][0][1].decode(),
           "#define AV_MEMBER_1 \"%s\"" % i["members"][1][1].decode(),
           "#define AV_MEMBER_2 \"%s\"" % i["members"][2][1].decode(),
           "#define AV_PR_1 \"%s\"" % i["prs"][1].decode(),
           "#define AV_SENDER %d" % i["leaf_sent"], "#define AV_SEQ %dULL" % i["seq"],
           "#define AV_PLAIN \"%s\"" % i["plain"].decode(),
           "#define AV_DIRTY 0x%016xULL" % i["dirty"]]
    for n, b in key_inputs(i).items():
        out += c_array(n, b)
    out += ["", "/* outputs */"]
    for n in OUTPUT_NAMES:
        out += c_array(n, v[n])
    out += ["", "#endif"]
    return "\n".join(out) + "\n"


def main(argv):
    self_test()
    return vectorlib.main(argv, "asr_vectors.py", DOC_PATH, HEADER_PATH, DOC_SECTION, "section 3.6", plain_text, markdown,
                          c_header, __doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
