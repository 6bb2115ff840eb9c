import Engine
import Foundation
import HTTPCore
import Logging
import OpenAIAPI

/// SIGTERM/SIGINT → drain, then stop:
/// 1. `/health` and every new API request answer 503 (the listener stays open, so clients get a
///    retryable answer instead of a refused connection while the load balancer takes us out);
/// 2. requests in flight finish, for at most `timeout` seconds;
/// 3. whatever is still running then ends with `finish_reason: "abort"` (streams get their final chunk
///    and `[DONE]`);
/// 4. the HTTP server closes and the engine thread ends. A second signal skips to step 3.
final class GracefulShutdown: @unchecked Sendable {
    private let router: OpenAIRouter
    private let server: HTTPServer
    private let timeout: Double
    private let logger: Logger
    private let lock = NSLock()
    // Guarded by `lock`:
    private var begun = false
    private var engine: EngineLoop?

    init(router: OpenAIRouter, server: HTTPServer, timeout: Double, logger: Logger) {
        self.router = router
        self.server = server
        self.timeout = timeout
        self.logger = logger
    }

    /// The engine once the model is loaded (a signal may come before). Stopped at once if the drain
    /// already finished.
    func engineStarted(_ engine: EngineLoop) {
        let stopNow: Bool = lock.withLock {
            self.engine = engine
            return begun
        }
        if stopNow { engine.shutdown() }
    }

    func signalReceived(_ name: String) {
        let first: Bool = lock.withLock {
            defer { begun = true }
            return !begun
        }
        guard first else {
            logger.notice("received \(name) again: aborting requests in flight", metadata: ["requests": "\(router.abortInFlight())"])
            return
        }
        logger.notice("received \(name), draining", metadata: [
            "in_flight": "\(router.inFlightCount)", "shutdown_timeout_s": "\(timeout)",
        ])
        router.beginDrain()
        // A thread of its own: the drain blocks for up to `timeout`, and Dispatch's shared pool is as
        // wide as the machine (two threads here); blocking one of them would slow every response.
        let thread = Thread { [self] in drain() }
        thread.name = "moeserve-drain"
        thread.start()
    }

    private func drain() {
        if !router.waitUntilIdle(deadline: Date(timeIntervalSinceNow: timeout)) {
            let aborted = router.abortInFlight()
            logger.warning("shutdown timeout reached: aborting requests in flight", metadata: ["requests": "\(aborted)"])
            // The aborts end each response (final chunk, [DONE]); give them a moment to be written.
            _ = router.waitUntilIdle(deadline: Date(timeIntervalSinceNow: 5))
        }
        logger.notice("drained; stopping")
        server.shutdown(gracePeriod: .seconds(5))
        lock.withLock { engine }?.shutdown()
    }
}
