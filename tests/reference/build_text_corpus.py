#!/usr/bin/env python3
"""Builds tests/fixtures/text/corpus.jsonl: the text that the tokenizer parity fixtures cover.

One JSON string per line, about 2.5 MB of UTF-8, deterministic for a given machine (it reads
freely licensed text from Debian's files: translation catalogs, Python's standard library, C
headers, jquery/underscore, iso-codes) plus passages written here and seeded random mixes that
stress the pre-tokenizer. Python 3.11, standard library only. The output is committed; rerun
only to change the corpus, then regenerate the fixtures (make_tokenizer_fixtures.py).

usage: build_text_corpus.py [OUTPUT]   (default: tests/fixtures/text/corpus.jsonl)
"""
import json
import os
import random
import struct
import sys
import types
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUTPUT = os.path.join(HERE, "..", "fixtures", "text", "corpus.jsonl")
PASSAGES_FILE = os.path.join(HERE, "..", "fixtures", "text", "passages.txt")


def load_passages(path):
    """Sections of passages.txt: "@@@ NAME" starts one, "---" separates entries, and
    "@@@ NAME lines" makes each line an entry."""
    sections, name, per_line, entry = {}, None, False, []

    def finish():
        if name is not None and entry and not per_line:
            sections[name].append("\n".join(entry))

    with open(path, encoding="utf-8") as handle:
        for line in handle.read().rstrip("\n").split("\n"):
            if line.startswith("@@@ "):
                finish()
                words = line[4:].split()
                name, per_line, entry = words[0], words[1:] == ["lines"], []
                sections[name] = []
            elif name is None:
                continue  # the file's header comment
            elif per_line:
                if line:
                    sections[name].append(line)
            elif line == "---":
                finish()
                entry = []
            else:
                entry.append(line)
    finish()
    return types.SimpleNamespace(**sections)


passages = load_passages(PASSAGES_FILE)

MAX_TOTAL_BYTES = 2_900_000


def utf8_size(text):
    return len(text.encode("utf-8"))


class Corpus:
    """Collects lines per section, refusing text that is not valid UTF-8 (lone surrogates)."""

    def __init__(self):
        self.lines = []
        self.section_bytes = {}
        self.seen = set()

    def add(self, section, text, dedupe=True):
        if not isinstance(text, str) or text == "":
            return
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return  # lone surrogates cannot be UTF-8; the tokenizer never sees them
        if dedupe:
            if text in self.seen:
                return
            self.seen.add(text)
        self.lines.append(text)
        self.section_bytes[section] = self.section_bytes.get(section, 0) + utf8_size(text)

    def size(self, section=None):
        if section is None:
            return sum(self.section_bytes.values())
        return self.section_bytes.get(section, 0)


# ---------------------------------------------------------------------------------------------
# Files on this machine


def read_text(path, limit=None):
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        print(f"  (missing, skipped: {path})")
        return ""
    text = data.decode("utf-8", errors="replace")
    if limit is not None and len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        text = text[: cut if cut > 0 else limit]
    return text


def mo_strings(path):
    """The translated strings (msgstr, plural forms split) of a GNU .mo catalog."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        return []
    if len(data) < 28:
        return []
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic == 0x950412DE else ">" if magic == 0xDE120495 else None
    if endian is None:
        return []
    count, _, table = struct.unpack(endian + "III", data[8:20])
    strings = []
    for index in range(count):
        length, offset = struct.unpack(endian + "II", data[table + 8 * index: table + 8 * index + 8])
        raw = data[offset: offset + length]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if text.startswith("Project-Id-Version") or "Content-Type:" in text:
            continue  # the header entry
        strings.extend(part for part in text.split("\x00") if part)
    return strings


def mo_msgids(path):
    """The English source strings (msgid) of a .mo catalog."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        return []
    if len(data) < 28 or struct.unpack("<I", data[:4])[0] != 0x950412DE:
        return []
    count, table = struct.unpack("<II", data[8:16])
    strings = []
    for index in range(count):
        length, offset = struct.unpack("<II", data[table + 8 * index: table + 8 * index + 8])
        try:
            text = data[offset: offset + length].decode("utf-8")
        except UnicodeDecodeError:
            continue
        strings.extend(part for part in text.split("\x00") if part)
    return strings


LOCALE_DIR = "/usr/share/locale"
# Language → bytes to take. Together ≥ 30 scripts: Han (simplified, traditional), kana,
# Hangul, Cyrillic, Arabic, Hebrew, Devanagari, Bengali, Tamil, Telugu, Kannada, Malayalam,
# Gujarati, Gurmukhi, Oriya, Thai, Lao, Khmer, Myanmar, Greek, Georgian, Armenian, Ethiopic,
# Sinhala, Tibetan (dz), Latin with diacritics (vi, tr, pl, cs, ...).
LANGUAGES = {
    "zh_CN": 150_000, "zh_TW": 80_000, "ja": 70_000, "ko": 45_000, "ru": 35_000, "uk": 25_000,
    "bg": 15_000, "sr": 15_000, "ar": 30_000, "fa": 20_000, "he": 20_000, "ur": 8_000,
    "ug": 10_000, "hi": 25_000, "mr": 12_000, "ne": 10_000, "bn": 15_000, "as": 8_000,
    "ta": 15_000, "te": 12_000, "kn": 12_000, "ml": 12_000, "gu": 12_000, "pa": 12_000,
    "or": 8_000, "th": 20_000, "lo": 5_000, "km": 10_000, "my": 10_000, "el": 20_000,
    "ka": 15_000, "hy": 10_000, "am": 8_000, "si": 8_000, "dz": 8_000, "vi": 20_000,
    "tr": 12_000, "pl": 12_000, "cs": 10_000, "de": 15_000, "fr": 15_000, "es": 12_000,
    "pt_BR": 8_000, "it": 8_000, "hu": 8_000, "ro": 8_000, "fi": 8_000, "yi": 5_000,
}


def add_translations(corpus):
    for language, budget in LANGUAGES.items():
        folder = os.path.join(LOCALE_DIR, language, "LC_MESSAGES")
        if not os.path.isdir(folder):
            print(f"  (no catalogs for {language})")
            continue
        section = "lang:" + language
        document = []
        document_bytes = 0
        for name in sorted(os.listdir(folder)):
            if not name.endswith(".mo") or name.startswith("iso_"):
                continue
            for text in mo_strings(os.path.join(folder, name)):
                if corpus.size(section) + document_bytes >= budget:
                    break
                # Short strings become their own lines; longer ones also feed a document
                # so that long inputs in every script are covered too.
                if len(document) % 3 == 2 or len(text) > 200:
                    document.append(text)
                    document_bytes += utf8_size(text)
                    if document_bytes > 40_000:  # keep long documents within 5–50 KB
                        corpus.add(section, "\n".join(document))
                        document, document_bytes = [], 0
                else:
                    corpus.add(section, text)
        if document:
            corpus.add(section, "\n".join(document))
            corpus.section_bytes[section] = corpus.size(section)


def add_english_catalog_strings(corpus, budget=150_000):
    folder = os.path.join(LOCALE_DIR, "de", "LC_MESSAGES")
    names = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
    batch = []
    for name in names:
        if not name.endswith(".mo"):
            continue
        for text in mo_msgids(os.path.join(folder, name)):
            if corpus.size("english:catalogs") >= budget:
                return
            batch.append(text)
            if len(batch) == 40:  # every 40th group becomes one paragraph-like line
                corpus.add("english:catalogs", " ".join(batch))
                batch = []
            else:
                corpus.add("english:catalogs", text)


PYTHON_FILES = [
    "textwrap.py", "heapq.py", "bisect.py", "string.py", "colorsys.py", "fnmatch.py",
    "shlex.py", "base64.py", "json/decoder.py", "json/encoder.py", "keyword.py",
    "graphlib.py", "numbers.py", "reprlib.py", "sched.py", "contextvars.py", "queue.py",
]
C_FILES = [
    "/usr/include/stdio.h", "/usr/include/string.h", "/usr/include/stdlib.h",
    "/usr/include/errno.h", "/usr/include/ctype.h", "/usr/include/utf8proc.h",
    "/usr/include/zlib.h", "/usr/include/linux/types.h", "/usr/include/assert.h",
]


def python_dir():
    for candidate in ("/usr/lib/python3.11", os.path.dirname(os.__file__)):
        if os.path.isdir(candidate):
            return candidate
    return ""


def add_code_file(corpus, section, text, whole_limit, line_budget):
    """The first `whole_limit` characters as one document, then single lines (indentation,
    trailing spaces, blank lines) until `line_budget` bytes."""
    if not text:
        return
    corpus.add(section, text[:whole_limit])
    used = 0
    for line in text[whole_limit:].split("\n"):
        if used >= line_budget:
            break
        corpus.add(section, line + "\n")
        used += utf8_size(line) + 1


def add_code(corpus):
    base = python_dir()
    for index, name in enumerate(PYTHON_FILES):
        text = read_text(os.path.join(base, name), limit=30_000)
        add_code_file(corpus, "code:python", text, 12_000 + 1000 * (index % 7), 4_000)
    for index, path in enumerate(C_FILES):
        text = read_text(path, limit=30_000)
        add_code_file(corpus, "code:c", text, 10_000 + 1500 * (index % 5), 4_000)
    for path, whole in (("/usr/share/javascript/underscore/underscore.js", 40_000),
                        ("/usr/share/javascript/jquery/jquery.js", 30_000)):
        text = read_text(path, limit=120_000)
        add_code_file(corpus, "code:js", text, whole, 20_000)
    for name, whole in (("iso_3166-1.json", 30_000), ("iso_4217.json", 16_000),
                        ("iso_15924.json", 12_000)):
        text = read_text(os.path.join("/usr/share/iso-codes/json", name), limit=40_000)
        add_code_file(corpus, "code:json", text, whole, 3_000)
    for path in ("/usr/share/doc/python3-yaml/examples/pygments-lexer/example.yaml",
                 "/usr/share/perl/5.36.0/CPAN/Kwalify/distroprefs.yml",
                 "/usr/share/doc/libbenchmark-dev/benchmark/_config.yml"):
        text = read_text(path, limit=20_000)
        add_code_file(corpus, "code:yaml", text, 8_000, 3_000)
    for text in passages.CODE_SNIPPETS:
        corpus.add("code:written", text)
        corpus.add("code:written", text.replace("\n", "\r\n"))
        corpus.add("code:written", text.replace("    ", "\t"))
    # JSON written by Python's json module with non-ASCII kept, as chat tools produce it.
    rng = random.Random(7)
    for index in range(60):
        record = {
            "id": index, "名称": passages.MODERN_CHINESE[index % len(passages.MODERN_CHINESE)][:30],
            "price": round(rng.uniform(0, 10_000), 2), "tags": ["α", "β", "😀", "x" * (index % 5)],
            "nested": {"ok": index % 2 == 0, "none": None, "ratio": index / 7},
        }
        indent = None if index % 3 == 0 else index % 5
        corpus.add("code:json", json.dumps(record, ensure_ascii=index % 4 == 0, indent=indent))


# ---------------------------------------------------------------------------------------------
# Generated text


SPACES = [
    " ", "  ", "   ", "    ", "        ", "\t", "\t\t", " \t", "\t ", "\n", "\n\n", "\n\n\n",
    "\r\n", "\r", "\r\r", "\r\n\r\n", "\n\r", " \n", "\n ", "  \n  ", " \r\n", "\r\n ",
    "\t\n", "\n\t", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f", "\u0085", "\u00a0",
    "\u00a0\u00a0", " \u00a0", "\u00a0 ", "\u1680", "\u2000", "\u2002", "\u2003", "\u2007",
    "\u2009", "\u200a", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000", "\u3000\u3000",
    " \u3000", "\u3000\n", "\u200b", "\ufeff", "\u180e", "\u2060", "\u200b ",
]
NEIGHBOURS = ["", "a", "Word", "字", "7", "٣", ".", "!?", "'", "'s", "😀", "é", "ـ", "<|im_end|>"]


def add_whitespace(corpus):
    for space in SPACES:
        corpus.add("whitespace", space)
        for left in NEIGHBOURS:
            for right in NEIGHBOURS:
                corpus.add("whitespace", left + space + right)
    for first in SPACES:
        for second in SPACES:
            corpus.add("whitespace", "x" + first + second + "y")
            corpus.add("whitespace", first + "." + second)
    for text in passages.MODERN_CHINESE[:4] + passages.ENGLISH[:4]:
        corpus.add("whitespace", "   " + text + "   ")
        corpus.add("whitespace", "\n\n" + text.replace("。", "。\r\n").replace(". ", ".\r\n\r\n") + "\n")
        corpus.add("whitespace", text.replace(" ", "  ").replace("，", "， "))
        corpus.add("whitespace", "\t" + text.replace(" ", "\t"))
    for text in passages.CLASSICAL_CHINESE[:10]:
        corpus.add("whitespace", "\u3000\u3000" + text.replace("。", "。\n\u3000\u3000"))


def add_numbers(corpus):
    rng = random.Random(11)
    digits_of_scripts = ["0123456789", "０１２３４５６７８９", "٠١٢٣٤٥٦٧٨٩", "۰۱۲۳۴۵۶۷۸۹",
                         "०१२३४५६७८९", "০১২৩৪৫৬৭৮৯", "௦௧௨௩௪௫௬௭௮௯", "๐๑๒๓๔๕๖๗๘๙",
                         "໐໑໒໓໔໕໖໗໘໙", "༠༡༢༣༤༥༦༧༨༩", "၀၁၂၃၄၅၆၇၈၉", "០១២៣៤៥៦៧៨៩",
                         "𝟎𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖𝟗", "⁰¹²³⁴⁵⁶⁷⁸⁹", "₀₁₂₃₄₅₆₇₈₉", "①②③④⑤⑥⑦⑧⑨⑩"]
    for digits in digits_of_scripts:
        corpus.add("numbers", digits)
        corpus.add("numbers", "".join(rng.choice(digits) for _ in range(40)))
        corpus.add("numbers", "价格" + "".join(rng.choice(digits) for _ in range(6)) + "元")
    for length in (1, 2, 3, 4, 5, 9, 16, 33, 100, 1000):
        corpus.add("numbers", "".join(rng.choice("0123456789") for _ in range(length)))
    for _ in range(600):
        kind = rng.randrange(10)
        if kind == 0:
            text = f"{rng.uniform(-1e6, 1e6):.{rng.randrange(8)}f}"
        elif kind == 1:
            text = f"{rng.randrange(10**12):,}"
        elif kind == 2:
            text = f"{rng.uniform(0, 1):.3e}"
        elif kind == 3:
            text = f"{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}"
        elif kind == 4:
            text = f"0x{rng.randrange(2**64):X} 0b{rng.randrange(256):08b} 0o{rng.randrange(512):o}"
        elif kind == 5:
            text = f"{rng.randrange(1900, 2100)}年{rng.randrange(1, 13)}月{rng.randrange(1, 29)}日"
        elif kind == 6:
            text = f"+86 {rng.randrange(130, 190)}-{rng.randrange(10000):04d}-{rng.randrange(10000):04d}"
        elif kind == 7:
            text = f"v{rng.randrange(10)}.{rng.randrange(20)}.{rng.randrange(100)}-rc{rng.randrange(5)}"
        elif kind == 8:
            text = f"{rng.randrange(100)}%，同比增长{rng.uniform(0, 50):.2f}%，约{rng.randrange(1, 99)}亿元"
        else:
            text = f"${rng.randrange(10**6)}.{rng.randrange(100):02d} €{rng.randrange(999)},{rng.randrange(100):02d} ¥{rng.randrange(10**5)}"
        corpus.add("numbers", text)
    for text in ("½ ¼ ¾ ⅓ ⅔ ⅛", "Ⅰ Ⅱ Ⅲ Ⅳ Ⅻ ⅰⅱⅲ", "〇一二三四五六七八九十百千万亿", "壹贰叁肆伍陆柒捌玖拾佰仟",
                 "x² + y³ = z⁴", "H₂O CO₂", "1st 2nd 3rd 4th", "π≈3.14159265358979323846",
                 "3.0e-10, -0.5, +7, 1_000_000, 1'000'000, 1.000.000,00"):
        corpus.add("numbers", text)


def add_emoji(corpus):
    rng = random.Random(13)
    emoji = passages.EMOJI
    for item in emoji:
        corpus.add("emoji", item)
        corpus.add("emoji", "Hi " + item + " there")
        corpus.add("emoji", "你好" + item + "！")
    for _ in range(500):
        parts = []
        for _ in range(rng.randrange(1, 12)):
            choice = rng.randrange(4)
            parts.append(rng.choice(emoji) if choice < 2 else rng.choice([" ", "", "a", "哈", "!", "\n"]))
        corpus.add("emoji", "".join(parts))


def add_nfc_cases(corpus):
    rng = random.Random(17)
    sources = passages.LATIN_DIACRITICS + passages.MODERN_CHINESE[:2]
    for text in sources:
        for form in ("NFD", "NFKD", "NFKC"):
            corpus.add("nfc", unicodedata.normalize(form, text))
    for text in passages.KOREAN:
        corpus.add("nfc", text)
        corpus.add("nfc", unicodedata.normalize("NFD", text))
    marks = [chr(c) for c in range(0x0300, 0x0370)] + ["\u0483", "\u0591", "\u05b0", "\u0610",
                                                       "\u064b", "\u093c", "\u094d", "\u0e31",
                                                       "\u0e48", "\u20d7", "\u302a", "\u3099"]
    bases = list("aeiouAEIOUnNcCsSzZyY") + ["α", "ω", "Ω", "и", "ה", "ع", "क", "ก", "か", "字", " ", "1", "."]
    for _ in range(1500):
        base = rng.choice(bases)
        text = base + "".join(rng.choice(marks) for _ in range(rng.randrange(1, 5)))
        if rng.randrange(3) == 0:
            text = "x" + text + rng.choice(bases)
        corpus.add("nfc", text)
    singletons = ("\u212a\u212b\u2126 \uf900\uf901\ufa10\ufa30 \u0958\u0959 \ufb2a\ufb2b \u0387\u1f71 "
                  "\u0340\u0341\u0343\u0344 \u2000\u2001 \u2f00\u2f01 \u1e9b\u0323 \u0344 \u0f73")
    corpus.add("nfc", singletons)
    for character in singletons.split(" "):
        corpus.add("nfc", "a" + character + "b")
    corpus.add("nfc", unicodedata.normalize("NFD", "".join(chr(c) for c in range(0xAC00, 0xAC00 + 400))))
    corpus.add("nfc", "".join(chr(c) for c in range(0x1100, 0x1113)) + "".join(chr(c) for c in range(0x1161, 0x1176)))


def add_contractions(corpus):
    rng = random.Random(19)
    suffixes = ["s", "t", "re", "ve", "m", "ll", "d"]
    for suffix in suffixes:
        for variant in sorted({suffix, suffix.upper(), suffix.capitalize(), suffix[::-1].capitalize()[::-1]}):
            for word in ("it", "IT", "They", "we", "", "字", "1", " ", "'"):
                corpus.add("contractions", word + "'" + variant)
                corpus.add("contractions", word + "'" + variant + "x more")
                corpus.add("contractions", word + "'" + variant + " and")
    for text in ("'ſ", "it'ſ", "'ſt", "'ſe", "'\u017fs", "'K", "'\u212a", "'\ufb06", "'\ufb05", "'ß",
                 "'ẞ", "'İ", "'ı", "'Ⓢ", "'Ｓ", "’s", "‘ll", "''s", "'''", "' s", "'\ns",
                 "don't DON'T Don'T I'M i'm we'RE WE'Ve she'LL HE'D they'Ve y'all ma'am o'clock",
                 "rock 'n' roll", "'90s '80S", "L'Homme l'été qu'il aujourd'hui"):
        corpus.add("contractions", text)
    for text in passages.ENGLISH:
        corpus.add("contractions", text.upper())
        corpus.add("contractions", "".join(c.upper() if rng.randrange(2) else c for c in text))


def add_special_tokens(corpus):
    tokens = passages.SPECIAL_TOKENS
    for token in tokens:
        corpus.add("special", token)
        corpus.add("special", " " + token + " ")
        corpus.add("special", "abc" + token + "def")
        corpus.add("special", token + token)
        corpus.add("special", "\n" + token + "\n\n")
        corpus.add("special", token[:-1])
        corpus.add("special", token[1:])
        corpus.add("special", token.upper())
        corpus.add("special", "<" + token + ">")
    for text in passages.CONVERSATIONS:
        corpus.add("special", text)
    for text in ("<|im_", "<|im_start", "<|im_end", "|im_end|>", "<|", "|>", "<||>", "<|endoftext",
                 "<think", "</think", "<think/>", "< think>", "<tool_call >", "<|im_start|><|im_end|>",
                 "<|im_start|>\u3000<|im_end|>", "<|endoftext|><|endoftext|><|endoftext|>"):
        corpus.add("special", text)


RANDOM_POOL = (
    list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
    + list(" \t\n\r.,;:!?'\"()[]{}<>|/\\-_=+*&^%$#@~`")
    + ["  ", "\u00a0", "\u3000", "\u2003", "\u2009", "\u0085", "\u2028", "\x0b", "\x0c", "\u200b", "\ufeff"]
    + ["'s", "'S", "'ll", "'RE", "'ve", "'M", "'d", "'T", "'ſ"]
    + list("的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年") + list("，。、！？；：“”（）《》【】…—")
    + list("あいうアイウーーカタ") + list("한국어가나") + list("ПриветМИР") + list("مرحبا٣٤") + list("שלום")
    + list("नमस्ते०१") + list("สวัสดี๑") + list("αβγΩ") + list("éèüñçø") + ["\u0301", "\u0308", "\u0323", "\u094d"]
    + list("１２３ＡＢｃ") + ["½", "²", "Ⅻ", "①", "〇"] + ["😀", "👍🏽", "👨‍👩‍👧", "🇨🇳", "1️⃣", "❤️", "\u200d", "\ufe0f"]
    + ["<|im_end|>", "<|im_start|>", "<|endoftext|>", "<think>", "</think>", "<tool_call>", "<|im_"]
    + ["\ue000", "\ufffd", "\ufdd0", "\uffff", "\U0010ffff", "\u200e", "\u200f", "\u202e", "\x00", "\x7f", "\x85"]
)


def add_random_mixes(corpus, count=3500):
    rng = random.Random(23)
    for index in range(count):
        length = rng.choice([1, 2, 3, 5, 8, 13, 30, 80, 200])
        # Bias each line to a few pool entries so that runs (of spaces, digits, marks) occur.
        pool = rng.sample(RANDOM_POOL, rng.randrange(3, 25))
        corpus.add("random", "".join(rng.choice(pool) for _ in range(length)))


def add_odd_unicode(corpus):
    odd = ["\ufffd", "\ufdd0", "\ufdef", "\ufffe", "\uffff", "\U0001fffe", "\U0010ffff", "\ue000",
           "\uf8ff", "\U000f0000", "\U00100000", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff",
           "\u200e", "\u200f", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067",
           "\u2068", "\u2069", "\u061c", "\u00ad", "\u034f", "\U000e0001", "\U000e0067", "\u0378",
           "\x00", "\x01", "\x1b", "\x7f", "\x80", "\x9f", "\u2400", "\U0001d400", "\U0001f600"]
    for character in odd:
        corpus.add("odd", character)
        corpus.add("odd", "a" + character + "b")
        corpus.add("odd", " " + character + " ")
        corpus.add("odd", "字" + character * 3 + "字")
    corpus.add("odd", "".join(odd))
    corpus.add("odd", "العربية \u202bمضمّن\u202c English \u2067עברית\u2069 end")
    corpus.add("odd", "".join(chr(c) for c in range(0x20, 0x7f)))
    corpus.add("odd", "".join(chr(c) for c in range(0xa0, 0x250)))
    corpus.add("odd", "".join(chr(c) for c in range(0x2000, 0x2070)))
    corpus.add("odd", "".join(chr(c) for c in range(0x3000, 0x3040)))
    corpus.add("odd", "".join(chr(c) for c in range(0xff00, 0xff70)))
    corpus.add("odd", "𠀀𠀁𪚥𰀀 𝐀𝐁𝐂 𝔸𝔹 ꙮ ﷽ ﬀﬁﬂ ㍿ ㋿ Ⓐⓑ ⅷ")


def add_written(corpus):
    for section, texts in (("classical", passages.CLASSICAL_CHINESE), ("modern", passages.MODERN_CHINESE),
                           ("contract", passages.CONTRACT_CHINESE), ("english", passages.ENGLISH),
                           ("latin", passages.LATIN_DIACRITICS), ("korean", passages.KOREAN)):
        for text in texts:
            corpus.add(section, text)
        corpus.add(section, "\n".join(texts))
        corpus.add(section, "\n\n".join(texts))
        corpus.add(section, "".join(texts))
    # Long documents (5–50 KB) made by repeating written passages in different orders.
    rng = random.Random(29)
    for index in range(12):
        pool = passages.MODERN_CHINESE + passages.CONTRACT_CHINESE + passages.CLASSICAL_CHINESE
        if index % 3 == 1:
            pool = passages.ENGLISH + passages.MODERN_CHINESE
        separator = rng.choice(["\n", "\n\n", "\r\n", " ", "", "\n\u3000\u3000"])
        target = rng.randrange(5_000, 40_000)
        parts, size = [], 0
        while size < target:
            part = rng.choice(pool)
            parts.append(part)
            size += utf8_size(part) + len(separator)
        corpus.add("long", separator.join(parts))


def build():
    corpus = Corpus()
    steps = [add_written, add_whitespace, add_numbers, add_emoji, add_nfc_cases, add_contractions,
             add_special_tokens, add_odd_unicode, add_random_mixes, add_translations,
             add_english_catalog_strings, add_code]
    for step in steps:
        before = corpus.size()
        step(corpus)
        print(f"{step.__name__:28s} +{corpus.size() - before:>9,d} bytes")
    return corpus


def main():
    output = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_OUTPUT
    corpus = build()
    total = corpus.size()
    if total > MAX_TOTAL_BYTES:
        sys.exit(f"corpus is {total:,} bytes, over the {MAX_TOTAL_BYTES:,} limit: lower a budget")
    if total < 2_000_000:
        sys.exit(f"corpus is {total:,} bytes, under the 2 MB the parity tests promise")
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with open(output, "w", encoding="utf-8", newline="\n") as handle:
        for line in corpus.lines:
            handle.write(json.dumps(line, ensure_ascii=False) + "\n")
    print("sections:")
    for section, size in sorted(corpus.section_bytes.items()):
        print(f"  {section:24s} {size:>9,d}")
    lengths = sorted(utf8_size(line) for line in corpus.lines)
    print(f"wrote {output}: {len(corpus.lines):,} lines, {total:,} bytes of text, "
          f"longest line {lengths[-1]:,} bytes, median {lengths[len(lengths) // 2]} bytes, "
          f"{sum(1 for n in lengths if n >= 5000)} lines of 5 KB or more")


if __name__ == "__main__":
    main()
