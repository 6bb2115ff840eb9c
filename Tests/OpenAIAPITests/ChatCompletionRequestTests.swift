import Testing
@testable import OpenAIAPI

@Suite struct ChatCompletionRequestTests {
    func parse(_ json: String) throws(APIError) -> ChatCompletionRequest { try ChatCompletionRequest.parse(Array(json.utf8)) }

    func error(_ json: String) -> APIError? {
        do { _ = try parse(json); return nil } catch { return error }
    }

    @Test func parsesAFullRequest() throws {
        let r = try parse(#"{"model":"m","messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}],"max_tokens":5,"temperature":0.5,"top_p":0.9,"top_k":40,"seed":7,"stream":true,"stream_options":{"include_usage":true},"n":1,"some_new_field":1}"#)
        #expect(r.model == "m")
        #expect(r.messages == [ChatMessage(role: "system", content: "s"), ChatMessage(role: "user", content: "ab")])
        #expect(r.sampling.maxTokens == 5 && r.sampling.temperature == 0.5 && r.sampling.topP == 0.9 && r.sampling.topK == 40 && r.sampling.seed == 7)
        #expect(r.stream && r.includeUsage)
        #expect(r.unknownFields == ["some_new_field"])
    }

    @Test func samplingControlsAreParsed() throws {
        let r = try parse(#"{"model":"m","messages":[{"role":"user","content":"x"}],"stop":["a","bc"],"min_p":0.1,"presence_penalty":0.5,"frequency_penalty":-1,"repetition_penalty":1.2,"logit_bias":{"42":-100,"7":5.5}}"#)
        let s = r.sampling
        #expect(s.stop == ["a", "bc"] && s.minP == 0.1 && s.presencePenalty == 0.5 && s.frequencyPenalty == -1 && s.repetitionPenalty == 1.2)
        #expect(s.logitBias == [42: -100, 7: 5.5])
        #expect(try parse(#"{"model":"m","messages":[{"role":"user","content":"x"}],"stop":"END"}"#).sampling.stop == ["END"])
    }

    /// The limit under its new name, the old one, or both when they agree; disagreeing ones are refused, not
    /// resolved silently in favour of one.
    @Test func specialTokensAreSkippedUnlessAsked() throws {
        #expect(try parse(#"{"model":"m","messages":[{"role":"user","content":"x"}]}"#).sampling.params(maxTokens: 1).skipSpecialTokens)
        #expect(try !parse(#"{"model":"m","messages":[{"role":"user","content":"x"}],"skip_special_tokens":false}"#).sampling.params(maxTokens: 1).skipSpecialTokens)
    }

    @Test func maxCompletionTokensAndMaxTokensMustAgree() throws {
        #expect(try parse(#"{"model":"m","messages":[{"role":"user","content":"x"}],"max_completion_tokens":9}"#).sampling.maxTokens == 9)
        #expect(try parse(#"{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":9,"max_completion_tokens":9}"#).sampling.maxTokens == 9)
        #expect(try parse(#"{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":5}"#).sampling.maxTokens == 5)
        #expect(throws: APIError.self) {
            try parse(#"{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":5,"max_completion_tokens":9}"#)
        }
    }

    /// (body, expected param, expected status)
    static let invalid: [(String, String?)] = [
        ("{bad json", nil),
        ("[]", nil),
        (#"{"messages":[{"role":"user","content":"x"}]}"#, "model"),
        (#"{"model":"m"}"#, "messages"),
        (#"{"model":"m","messages":[]}"#, "messages"),
        (#"{"model":"m","messages":"hi"}"#, "messages"),
        (#"{"model":"m","messages":[{"content":"x"}]}"#, "messages[0].role"),
        (#"{"model":"m","messages":[{"role":"wizard","content":"x"}]}"#, "messages[0].role"),
        (#"{"model":"m","messages":[{"role":"user"}]}"#, "messages[0].content"),
        (#"{"model":"m","messages":[{"role":"user","content":5}]}"#, "messages[0].content"),
        (#"{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}"#, "messages[0].content[0].type"),
        (#"{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":3}"#, "temperature"),
        (#"{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":"hot"}"#, "temperature"),
        (#"{"model":"m","messages":[{"role":"user","content":"x"}],"top_p":0}"#, "top_p"),
        (#"{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":0}"#, "max_tokens"),
        (#"{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":2.5}"#, "max_tokens"),
        (#"{"model":"m","messages":[{"role":"user","content":"x"}],"stream":1}"#, "stream"),
        (#"{"model":"m","messages":[{"role":"user","content":"x"}],"stream_options":{"include_usage":true}}"#, "stream_options"),
        (#"{"model":"m","messages":[{"role":"user","content":"x"}],"stream":true,"stream_options":{"continuous_usage_stats":true}}"#,
         "stream_options.continuous_usage_stats"),
        (#"{"model":"m","messages":[{"role":"user","content":"x"}],"stream":true,"stream_options":{"include_obfuscation":"no"}}"#,
         "stream_options.include_obfuscation"),
        (#"{"model":"m","messages":[{"role":"user","content":"x"}],"n":2,"temperature":0}"#, "n"),
        (#"{"model":"m","messages":[{"role":"user","content":"x"}],"n":17}"#, "n"),
        (#"{"model":"m","messages":[{"role":"user","content":"x"}],"top_logprobs":2}"#, "top_logprobs"),
        (#"{"model":"m","messages":[{"role":"user","content":"x"}],"logprobs":true,"top_logprobs":21}"#, "top_logprobs"),
        (#"{"model":"m","messages":[{"role":"user","content":"x"}],"stop":[1]}"#, "stop"),
        (#"{"model":"m","messages":[{"role":"user","content":"x"}],"stop":[""]}"#, "stop"),
        (#"{"model":"m","messages":[{"role":"user","content":"x"}],"presence_penalty":3}"#, "presence_penalty"),
        (#"{"model":"m","messages":[{"role":"user","content":"x"}],"logit_bias":{"abc":1}}"#, "logit_bias"),
        (#"{"model":"m","messages":[{"role":"user","content":"x"}],"logit_bias":{"5":101}}"#, "logit_bias.5"),
        (#"{"model":"m","messages":[{"role":"user","content":"x"}],"min_p":1.5}"#, "min_p"),
        (#"{"model":"m","messages":[{"role":"user","content":"x"}],"logprobs":"yes"}"#, "logprobs"),
        (#"{"model":"m","messages":[{"role":"user","content":"x"}],"skip_special_tokens":1}"#, "skip_special_tokens"),
        (#"{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function"}]}"#, "tools[0].function"),
    ]

    @Test(arguments: invalid)
    func rejectsWithOpenAIError(body: String, param: String?) {
        guard let e = error(body) else { Issue.record("accepted: \(body)"); return }
        #expect(e.status == 400)
        #expect(e.type == "invalid_request_error")
        #expect(e.param == param, "\(body)")
        #expect(!e.message.isEmpty)
    }

    @Test func neutralValuesOfUnsupportedFieldsAreAccepted() throws {
        let r = try parse(#"{"model":"m","messages":[{"role":"user","content":"x"}],"n":1,"logprobs":false,"presence_penalty":0,"frequency_penalty":0.0,"temperature":null}"#)
        #expect(r.sampling.temperature == nil)
    }

    @Test func errorJSONHasTheOpenAIShape() {
        let e = APIError.invalid("bad \"thing\"\n", param: "x")
        #expect(e.json.serialized() == #"{"error":{"message":"bad \"thing\"\n","type":"invalid_request_error","param":"x","code":null}}"#)
    }
}
