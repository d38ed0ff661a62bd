"""What the test-vector scripts (proto_vectors.py, asr_vectors.py) share:
big-endian fields, the hex layout of their outputs, and the command line
that prints them, writes them into the page and the C header, or checks
that the committed files are the script's output.  Standard library only."""
import hashlib
import struct
import sys


def u8(v): return bytes([v])
def u16(v): return struct.pack(">H", v)
def u32(v): return struct.pack(">I", v)
def u64(v): return struct.pack(">Q", v)
def lv8(b):
    assert len(b) < 256
    return u8(len(b)) + b
def H(*parts): return hashlib.sha256(b"".join(parts)).digest()


def wrap(name, b, width=64, name_width=14):
    """`name  hex...` lines: the hex wrapped at `width` digits, each later
    line under the first."""
    h = b.hex()
    lines = [h[k:k + width] for k in range(0, len(h), width)] or [""]
    pad = " " * (name_width + 1)
    out = ["%-*s %s" % (name_width, name, lines[0])]
    out += [pad + line for line in lines[1:]]
    return out


def c_array(prefix, name, b):
    """A C array PREFIX_name of the bytes, 12 to a line."""
    lines = ["static const uint8_t %s_%s[%d] = {" % (prefix, name, len(b))]
    for i in range(0, len(b), 12):
        lines.append("\t" + " ".join("0x%02x," % x for x in b[i:i + 12]))
    lines.append("};")
    return lines


def doc_section(text, heading):
    """The section `heading` of the page: from the heading to the next
    section (a "## " line) or the end."""
    start = text.index(heading + "\n")
    end = text.find("\n## ", start + len(heading))
    return text[start:] if end < 0 else text[start:end + 1]


def main(argv, script, doc_path, header_path, heading, section_name, plain_text, markdown, c_header, usage):
    """The scripts' command line: no argument prints every value;
    --markdown and --c-header print the two outputs; --write ROOT writes them
    into the source tree ROOT; --check ROOT exits 0 when the tree holds
    exactly them, 1 when not."""
    if len(argv) == 1:
        sys.stdout.write(plain_text())
    elif argv[1:] == ["--markdown"]:
        sys.stdout.write(markdown())
    elif argv[1:] == ["--c-header"]:
        sys.stdout.write(c_header())
    elif len(argv) == 3 and argv[1] in ("--write", "--check"):
        root = argv[2]
        with open(root + "/" + doc_path, encoding="utf-8") as f:
            doc = f.read()
        try:
            with open(root + "/" + header_path, encoding="utf-8") as f:
                header = f.read()
        except FileNotFoundError:
            header = None
        if argv[1] == "--write":
            with open(root + "/" + doc_path, "w", encoding="utf-8") as f:
                f.write(doc.replace(doc_section(doc, heading), markdown()))
            with open(root + "/" + header_path, "w", encoding="utf-8") as f:
                f.write(c_header())
            return 0
        bad = []
        if doc_section(doc, heading) != markdown():
            bad.append(doc_path + " " + section_name)
        if header != c_header():
            bad.append(header_path)
        if bad:
            print("%s: not the script's output: %s (rerun with --write)" % (script, ", ".join(bad)))
            return 1
        print("%s: %s %s and %s are the script's output" % (script, doc_path, section_name, header_path))
    else:
        sys.stderr.write(usage)
        return 2
    return 0
