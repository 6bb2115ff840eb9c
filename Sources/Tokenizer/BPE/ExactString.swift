/// A string that hashes and compares by its UTF-8 bytes. Swift's `String` equality is canonical
/// equivalence, which would merge distinct vocabulary entries (Llama-2 has "ί" as both U+1F77 and
/// U+03AF); tokenizers compare bytes.
struct ExactString: Hashable, Sendable {
    let string: String

    init(_ string: String) { self.string = string }

    static func == (a: ExactString, b: ExactString) -> Bool { a.string.utf8.elementsEqual(b.string.utf8) }

    func hash(into hasher: inout Hasher) {
        var s = string
        s.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}
