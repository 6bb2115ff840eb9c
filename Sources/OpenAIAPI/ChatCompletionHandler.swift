import Engine
import Foundation
import HTTPCore
import Logging

/// `POST /v1/chat/completions`: validate, build the prompt, submit one engine request per choice,
/// answer whole or as SSE.
struct ChatCompletionHandler {
    let context: ServingContext
    let logger: Logger
    /// Added to every response (CORS).
    let headers: HTTPHeaders
    let options: APIOptions
    let inFlight: InFlightRequests

    func handle(_ request: HTTPRequest, _ writer: HTTPResponseWriter) {
        do {
            let chat = try ChatCompletionRequest.parse(request.body)
            logger.ignoring(chat.unknownFields)
            if options.logPrompts {
                logger.info("prompt", metadata: ["request_id": "\(request.requestID)",
                                                 "messages": .array(chat.messages.map { "\($0.role): \($0.content)" })])
            }
            let id = request.completionID(prefix: "chatcmpl")
            let run = try context.chatEngineRequests(chat, id: id, reasoning: options.reasoning)
            let shape = ChatResponseBuilder(header: CompletionHeader(id: id, model: context.model.id, created: Int(Date().timeIntervalSince1970),
                                                                     fingerprint: context.systemFingerprint), tools: run.tools,
                                            mistralCallIDs: context.prompter.toolCallFormat == .mistral, reasoning: run.reasoning)
            ChoiceRun(requests: run.requests, backend: context.backend, tokenBytes: chat.sampling.logprobTokenBytes(context), choicesPerPrompt: chat.sampling.n,
                      promptLogprobs: chat.sampling.promptLogprobs)
                .respond(shape: shape, stream: chat.stream, includeUsage: chat.includeUsage, writer: writer, headers: headers, inFlight: inFlight)
        } catch {
            writer.respondError(error, headers: headers)
        }
    }
}

/// The request fields a chat run's errors name: the chat API's own, or another API's that runs as a chat (Responses).
struct ChatFieldNames: Sendable {
    var messages = "messages"
    var maxTokens = "max_tokens"
    /// What asks to continue the final message.
    var continuation = "continue_final_message"
    /// How the API forces a tool call.
    var forcedCallHint = "tool_choice 'required', or a named function"

    static let chat = ChatFieldNames()
    static let responses = ChatFieldNames(messages: "input", maxTokens: "max_output_tokens")
    /// Anthropic's Messages API: a final assistant message is the prefill.
    static let anthropic = ChatFieldNames(continuation: "messages", forcedCallHint: "tool_choice {\"type\": \"any\"} or {\"type\": \"tool\", \"name\": …}")
}

extension ServingContext {
    /// The engine requests, and how to read their text when tools are in play: the template is shown the tools
    /// (unless `tool_choice` is `none`), a forced call (`required`, a named function) is a grammar on the output,
    /// and `auto` reads calls in the model's own format. Errors name the fields as `fields` says.
    func chatEngineRequests(_ chat: ChatCompletionRequest, id: String, fields: ChatFieldNames = .chat,
                            reasoning parsing: ReasoningParsing = .none) throws(APIError) -> ChatRun {
        try check(model: chat.model)
        var sampling = chat.sampling
        var output: ToolOutput?
        var markers: [GrammarMarker] = []
        if let t = chat.tools {
            switch t.choice {
            case .none: break
            case .auto:
                guard let format = prompter.toolCallFormat else {
                    throw APIError.invalid("this model's chat template does not show tools to the model in a tool-call format the server reads (<tool_call> with JSON, DeepSeek's or [TOOL_CALLS]), so with tool_choice 'auto' its calls could not be told from its text; force a call instead (\(fields.forcedCallHint))",
                                           param: "tool_choice", code: "unsupported_value")
                }
                output = .auto(format, names: Set(t.tools.map(\.name)), parallel: t.parallel)
                // With a response format too: the value, or calls in the model's format instead of it (as OpenAI's
                // models choose); the calls are then free text, read as without a format.
                if sampling.grammar != nil { markers.append(GrammarMarker(format.marker, then: .free)) }
                // A format's markers may be special tokens (DeepSeek's): keep their text to find the calls.
                if sampling.skipSpecialTokens == nil { sampling.skipSpecialTokens = false }
            case .required:
                output = .required
                sampling.grammar = try t.forcedGrammar()
            case let .named(name):
                output = .named(name)
                sampling.grammar = try t.forcedGrammar()
            }
        }
        // A grammar starts its value where the output starts; after a prefill that would be a second value.
        if chat.continueFinalMessage, sampling.grammar != nil {
            throw APIError.invalid("a final assistant message to continue cannot be combined with an output format or a forced tool call: the "
                                   + "constrained output would start over after its text", param: fields.continuation, code: "invalid_value")
        }
        let (prompt, start) = try chatPrompt(chat, fields: fields, parsing: parsing)
        var keep: Set<Int> = []
        if start != nil {
            keep = prompter.thinkTokenIDs
            // The prompt opened a think block: the reasoning is free, and a response format or forced call applies
            // to the answer after it.
            if start == .inside, sampling.grammar != nil { sampling.grammarAfter = ReasoningStart.close }
            // The model may open one itself (Qwen3): then the same, else the answer starts at once.
            if start == .mayOpen, sampling.grammar != nil {
                markers.insert(GrammarMarker(ReasoningStart.open, then: .waitFor(Array(ReasoningStart.close.utf8))), at: 0)
            }
        }
        sampling.grammarMarkers = markers
        var requests = try sampling.engineRequests(id: id, prompts: [prompt], context: self, promptParam: fields.messages, maxTokensParam: fields.maxTokens)
        for i in requests.indices {
            requests[i].sampling.keepSpecialTokenIDs = keep
            requests[i].sampling.reasoning = start.map { ReasoningMarkers(startsInside: $0 == .inside) }
        }
        return ChatRun(requests: requests, tools: output, reasoning: start)
    }
}

extension ServingContext {
    /// A chat request's prompt, and (for a thinking model whose reasoning is split off) where its output starts: the
    /// template shown the tools (with tool_choice none they stay in the prompt, vLLM's default: the model knows them,
    /// calls none), a final assistant message continued when the request asks.
    func chatPrompt(_ chat: ChatCompletionRequest, fields: ChatFieldNames = .chat,
                    parsing: ReasoningParsing) throws(APIError) -> (tokens: [Int], start: ReasoningStart?) {
        let tools = chat.tools.map { $0.tools.map(\.spec) }
        let thinking = parsing == .auto && prompter.thinksInTags
        do {
            if chat.continueFinalMessage {
                let continued = try prompter.continuationPrompt(for: chat.messages, tools: tools, variables: chat.templateArguments)
                return (continued.tokens, thinking ? continued.start : nil)
            }
            if thinking {
                let p = try prompter.thinkingPrompt(for: chat.messages, tools: tools, variables: chat.templateArguments)
                return (p.tokens, p.start)
            }
            return (try prompter.promptTokens(for: chat.messages, tools: tools, variables: chat.templateArguments), nil)
        } catch {
            throw MissingChatTemplate.apiError(error, param: fields.messages)
        }
    }
}

/// What a chat run needs beyond its engine requests: how to read calls and reasoning out of the text.
struct ChatRun {
    var requests: [EngineRequest]
    var tools: ToolOutput?
    /// Where the reasoning starts, for a thinking model whose reasoning is split off; nil otherwise.
    var reasoning: ReasoningStart?
}

