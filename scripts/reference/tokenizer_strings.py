"""Test strings for scripts/reference/make_tokenizer_fixtures.py: curated cases plus seeded random
mixtures. Deterministic: the same list on every run."""

import random

CURATED = [
    # plain English, punctuation, contractions (incl. upper case and look-alikes for (?i:'s))
    "Hello world", " Hello world", "Hello World!", "HELLO WORLD", "hello, world. How are you?",
    "I'm sure you'll see they've done it; she'd say it's not what we're doing.",
    "I'LL DO IT, DON'T WORRY", "It'S a Mix'd case", "rock 'n' roll", "'s", "''", "'ſ and 'K (long s, Kelvin)",
    "The quick brown fox jumps over the lazy dog.", "Mr. O'Neil's 3rd-rate e-mail: x@y.z",
    # numbers
    "0", "7", "42", "123", "1234", "12345", "123456789", "3.14159", "1,000,000", "-273.15°C", "1e-9",
    "2024-01-15T12:30:45Z", "phone: +1 (555) 010-9999", "v1.2.3-beta.4", "0x1F600", "1/2 ½ ¾ ² ³ ⅞",
    "٠١٢٣٤٥٦٧٨٩", "०१२३४५६७८९", "１２３４５", "Ⅻ ⅻ ↂ", "𝟘𝟙𝟚", "ied 4 ½ months",
    # multilingual
    "Äpfel und Öl für Überfluß", "Cửa Việt", "Ελληνικά γράμματα", "Привет, мир! Как дела?",
    "Български език", "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया", "สวัสดีชาวโลก", "ខ្មែរ",
    "你好，世界！", "東京都は日本の首都です。", "ひらがな カタカナ ｶﾀｶﾅ", "한국어 텍스트입니다", "Tiếng Việt có dấu",
    "Zażółć gęślą jaźń", "İstanbul ılık", "ﬁ ﬂ ﬀ ligatures", "ß ẞ ǅ ǈ", "e\u0301 vs é (NFD vs NFC)",
    "A\u030a\u0301 stacked marks", "\u1100\u1161\u11a8 (conjoining jamo)", "Ω vs \u2126, K vs \u212a",
    # emoji
    "🦙", " this is 🦙.cpp", "👍🏽 👩‍👩‍👧‍👦 🏳️‍🌈 🇯🇵 1️⃣", "😀😃😄😁😆", "🙂🙃 emoji at the end 🎉",
    "❤️ ❤ ♥", "🧑🏿‍🚀 in space", "Mixed: Hello 🦙 你好 мир 123",
    # code
    "def f(x):\n    return x ** 2\n", "for (int i = 0; i < n; ++i) {\n\tsum += a[i];\n}",
    "let x: [String: Int] = [\"a\": 1]", "{\"key\": [1, 2, {\"nested\": null}]}", "<div class=\"a\">&amp;</div>",
    "SELECT * FROM t WHERE id = 42;", "$ ls -la | grep '^d' && echo done", "#include <stdio.h>\nint main(){}",
    "x+=1;y-=2;z*=3;w/=4", "a->b => c <= d >= e != f == g", "if __name__ == \"__main__\":\n\tmain()",
    "    indented\n        more\n\tand tabs", "/* comment */ // another\n# python", "path/to/file_name.ext",
    "https://example.com/path?q=1&r=two#frag", "C:\\Windows\\System32", "λx.x", "foo_bar_baz fooBarBaz FooBar",
    # whitespace
    "", " ", "  ", "   ", "\t", "\n", "\n\n", "\n\n\n", "\t\n", " \n", "\r\n", "\r\n\r\n", "a\r\nb",
    " " * 17, " " * 100, "\t" * 12, "\n" * 9, " \t \n \r\n  \t\t\n", "a" + " " * 50 + "b",
    "    Hello\n    Hello", "Hello    ", "  leading and trailing  ", "word\u00a0nbsp\u2003em\u3000ideographic",
    "\u200b\u200c\u200d zero widths", "line1\nline2\n\nline4", " (", "\n =", "' era", "!!!!!!", "...",
    # special-token look-alikes
    "<|im_start|>user\nhi<|im_end|>", "<|endoftext|>", "<s>", "</s>", "<unk>", "<s> [INST] hi [/INST]",
    "<|begin_of_text|>", "<｜begin▁of▁sentence｜>", "<|end|>", "<|im_start", "im_start|>", "< s >",
    "<0x41>", "<0xZZ>", "▁", "▁▁hello", "Ġhello", "ĊĠĠ", "[TOOL] call", "<think>reason</think>",
    "a<|im_end|>b", "<|im_start|><|im_start|>", "hello world", "say hello world now", "ahello worldb",
    "x [TOOL]   y", "<|unknown_special|>",
    # odd input
    "\u0000\u0001\u0007 control", "\u00ad soft hyphen", "\ufeffBOM", "\U0010ffff private", "\ue000 PUA",
    "a\u0300\u0301\u0302\u0303\u0304", "ǆemal", "ＦＵＬＬＷＩＤＴＨ ｔｅｘｔ", "w048 7tuijk dsdfhu",
    "3333333333333", "33 333 3333", "Hello, y'all! How are you 😁 ?我想在apple工作1314151天～",
]

FRAGMENTS = [
    "hello", "world", " the", " The", "I'm", " you're", "can't", "42", "1234567", "3.5", "½", "٣",
    "Ünïcödé", "naïve", "東京", "日本語", "中文字符", "한국", "кириллица", "Ελλάδα", "עברית", "عربى",
    "हिन्दी", "ไทย", "🦙", "👍🏽", "🇫🇷", "✨", "(", ")", "{", "}", "[", "]", "<", ">", "/", "\\",
    "!", "?", ".", ",", ";", ":", "-", "_", "=", "+", "*", "&", "%", "$", "#", "@", "~", "`", "'",
    "\"", " ", "  ", "   ", "\t", "\n", "\r\n", "\n\n", "    ", "<|im_start|>", "<s>", "[TOOL]",
    "▁", "Ġ", "def", "return", "0x7f", "NaN", "ſ", "'S", "'LL", "e\u0301", "\u200d",
]


def random_strings(n, seed=5):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        k = rng.randint(2, 9)
        out.append("".join(rng.choice(FRAGMENTS) for _ in range(k)))
    return out


def all_strings():
    seen, out = set(), []
    for s in CURATED + random_strings(180):
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out
