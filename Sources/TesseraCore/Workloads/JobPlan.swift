import Foundation

/// Where a job of the engine stands, from the latest attempt of each of its steps: what to start next, or how it
/// ended. Pure: the engine reads the attempts under the job's row lock and acts on the answer.
public enum JobPlan {
    /// The latest attempt of a step.
    public struct Attempt: Sendable, Equatable {
        public let status: JobStatus
        public let error: String?

        public init(status: JobStatus, error: String? = nil) {
            self.status = status
            self.error = error
        }
    }

    public enum Next: Sendable, Equatable {
        /// Start these steps (their dependencies have completed), in the pipeline's order; may be empty while
        /// steps are running or waiting for a retry.
        case start([String])
        /// Every step has completed.
        case completed
        /// A step's last attempt failed (its retries are spent: a retry is a new attempt, so the latest would be
        /// PENDING); the first such step in the pipeline's order and its error.
        case failed(step: String, error: String)
    }

    /// What comes next for a job of `steps` (a valid DAG, in pipeline order) whose steps' latest attempts are
    /// `latest` (a step without an attempt is absent).
    public static func next(_ steps: [PipelineStep], latest: [String: Attempt]) -> Next {
        for step in steps {
            if let attempt = latest[step.key], attempt.status == .failed || attempt.status == .canceled {
                return .failed(step: step.key, error: attempt.error ?? attempt.status.rawValue.lowercased())
            }
        }
        if steps.allSatisfy({ latest[$0.key]?.status == .completed }) { return .completed }
        let ready = steps.filter { step in
            latest[step.key] == nil && step.dependsOn.allSatisfy { latest[$0]?.status == .completed }
        }
        return .start(ready.map(\.key))
    }
}

/// How the engine calls a task definition's services (`service_config`), every field optional:
/// `operation` (the interface_spec's operationId to call; may be left out when the spec has one operation),
/// `cancel_operation` (called with the execution's id when a job is cancelled), `timeout_seconds` (one call, or
/// the wait for a callback; default 300), `retries` (more attempts after a failure; default 0),
/// `backoff_seconds` (before the first retry, doubling each time; default 1) and `max_concurrency` (running
/// executions of the definition in one org; default 0: only the org's cap).
public struct TaskServiceConfig: Sendable, Equatable {
    public var operation: String?
    public var cancelOperation: String?
    public var timeoutSeconds: Int = 300
    public var retries: Int = 0
    public var backoffSeconds: Double = 1
    public var maxConcurrency: Int = 0

    public init() {}

    /// The config from `service_config` (a JSON object); every problem, with its path, when it is not one.
    public static func parse(_ json: Data) -> Result<TaskServiceConfig, Problems> {
        guard let object = (try? JSONSerialization.jsonObject(with: json)) as? [String: Any] else {
            return .failure(Problems(["service_config: must be a JSON object"]))
        }
        var config = TaskServiceConfig()
        var problems: [String] = []
        func integer(_ key: String, _ range: ClosedRange<Int>) -> Int? {
            guard let value = object[key] else { return nil }
            guard let number = value as? NSNumber, !CanonicalJSON.isBoolean(number),
                let int = Int(exactly: number.doubleValue), range.contains(int)
            else {
                problems.append(
                    "service_config.\(key): must be a whole number from \(range.lowerBound) to \(range.upperBound)")
                return nil
            }
            return int
        }
        func operationID(_ key: String) -> String? {
            guard let value = object[key] else { return nil }
            guard let text = value as? String, (1...200).contains(text.count) else {
                problems.append("service_config.\(key): must be an operationId (1 to 200 characters)")
                return nil
            }
            return text
        }
        config.operation = operationID("operation")
        config.cancelOperation = operationID("cancel_operation")
        if let value = integer("timeout_seconds", 1...86_400) { config.timeoutSeconds = value }
        if let value = integer("retries", 0...20) { config.retries = value }
        if let value = integer("max_concurrency", 0...10_000) { config.maxConcurrency = value }
        if let value = object["backoff_seconds"] {
            if let number = value as? NSNumber, !CanonicalJSON.isBoolean(number),
                (0...3600).contains(number.doubleValue)
            {
                config.backoffSeconds = number.doubleValue
            } else {
                problems.append("service_config.backoff_seconds: must be a number from 0 to 3600")
            }
        }
        return problems.isEmpty ? .success(config) : .failure(Problems(problems))
    }

    public struct Problems: Error, Sendable, Equatable {
        public let all: [String]
        public init(_ all: [String]) { self.all = all }
    }

    /// The wait before the attempt after `attempt` (1 for the first): the back-off doubled per attempt past the
    /// first, at most an hour.
    public func backoff(after attempt: Int) -> Duration {
        let seconds = min(3600, backoffSeconds * pow(2, Double(max(0, min(attempt - 1, 20)))))
        return .milliseconds(Int64(seconds * 1000))
    }
}
