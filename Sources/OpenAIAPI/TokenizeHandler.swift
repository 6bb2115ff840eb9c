import HTTPCore

/// `POST /tokenize` and `POST /detokenize` (vLLM's shapes): what the server would feed the model.
struct TokenizeHandler {
    let context: ServingContext
    let headers: HTTPHeaders

    /// `{"prompt": "..."}` or `{"messages": [...]}` (chat template applied) → `{"count", "max_model_len", "tokens"}`.
    func tokenize(_ request: HTTPRequest, _ writer: HTTPResponseWriter) {
        do {
            let f = try FieldReader(try JSONInput.parse(request.body))
            try checkModel(f)
            var ids: [Int]
            // vLLM's truncate_prompt_tokens: the prompt a request with it runs keeps its last tokens.
            let cut = try SamplingRequest(FieldReader(.object(f.fields.filter { $0.key == "truncate_prompt_tokens" })), body: OrderedBody(request.body))
            if let prompt = try f.string("prompt") {
                ids = context.prompter.encode(prompt)
            } else if case let .array(items)? = f.raw("messages") {
                var messages: [ChatMessage] = []
                for (i, m) in items.enumerated() { messages.append(try ChatCompletionRequest.parseMessage(m, index: i)) }
                // The prompt a chat request with these tools, template variables and continuation would get.
                let body = OrderedBody(request.body)
                var chat = ChatCompletionRequest(model: context.model.id, messages: messages, sampling: .neutral(), stream: false, includeUsage: false,
                                                 tools: try ToolRequest.parse(f, body: body), unknownFields: [])
                chat.templateArguments = try ChatCompletionRequest.templateArguments(f, body: body)
                chat.continueFinalMessage = try ChatCompletionRequest.continuation(f, messages: messages)
                ids = try context.chatPrompt(chat, parsing: .none).tokens
            } else if let messages = f.raw("messages") {
                throw f.typeError("messages", "an array", messages)
            } else {
                throw APIError.invalid("send 'prompt' (a string) or 'messages' (an array)", param: "prompt", code: "missing_required_parameter")
            }
            ids = cut.truncated(ids)
            writer.respondJSON(.object([("count", .int(ids.count)), ("max_model_len", .int(context.model.maxSequenceLength)),
                                        ("tokens", .array(ids.map { .int($0) }))]), headers: headers)
        } catch let e as APIError {
            writer.respondError(e, headers: headers)
        } catch {
            writer.respondError(.server("\(error)"), headers: headers)
        }
    }

    /// `{"tokens": [ids]}` → `{"prompt": "text"}`.
    func detokenize(_ request: HTTPRequest, _ writer: HTTPResponseWriter) {
        do {
            let f = try FieldReader(try JSONInput.parse(request.body))
            try checkModel(f)
            guard case let .array(items)? = f.raw("tokens") else {
                throw APIError.invalid("'tokens' must be an array of token ids", param: "tokens", code: "missing_required_parameter")
            }
            var ids: [Int] = []
            for item in items {
                guard case let .int(i) = item, i >= 0, i < context.model.vocabularySize else {
                    throw APIError.invalid("'tokens' must hold token ids in 0..<\(context.model.vocabularySize)", param: "tokens", code: "invalid_value")
                }
                ids.append(i)
            }
            writer.respondJSON(.object([("prompt", .string(context.prompter.decode(ids)))]), headers: headers)
        } catch let e as APIError {
            writer.respondError(e, headers: headers)
        } catch {
            writer.respondError(.server("\(error)"), headers: headers)
        }
    }

    /// `model` is optional here, but when sent it must be ours.
    func checkModel(_ f: FieldReader) throws(APIError) {
        if let m = try f.string("model") { try context.check(model: m) }
    }
}
