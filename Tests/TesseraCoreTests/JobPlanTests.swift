import Foundation
import Testing

@testable import TesseraCore

@Suite struct JobPlanTests {
    /// a → (b, c) → d
    static let diamond = [
        PipelineStep(key: "a", task: "t", version: "1.0.0"),
        PipelineStep(key: "b", task: "t", version: "1.0.0", dependsOn: ["a"]),
        PipelineStep(key: "c", task: "t", version: "1.0.0", dependsOn: ["a"]),
        PipelineStep(key: "d", task: "t", version: "1.0.0", dependsOn: ["b", "c"]),
    ]

    static func attempts(_ states: [String: JobStatus]) -> [String: JobPlan.Attempt] {
        states.mapValues { JobPlan.Attempt(status: $0, error: $0 == .failed ? "HTTP 500" : nil) }
    }

    @Test func stepsStartWhenTheirDependenciesHaveCompleted() {
        #expect(JobPlan.next(Self.diamond, latest: [:]) == .start(["a"]))
        #expect(JobPlan.next(Self.diamond, latest: Self.attempts(["a": .running])) == .start([]))
        #expect(JobPlan.next(Self.diamond, latest: Self.attempts(["a": .completed])) == .start(["b", "c"]))
        // One branch done, the other running: d waits; nothing else to start.
        #expect(
            JobPlan.next(Self.diamond, latest: Self.attempts(["a": .completed, "b": .completed, "c": .running]))
                == .start([]))
        #expect(
            JobPlan.next(Self.diamond, latest: Self.attempts(["a": .completed, "b": .completed, "c": .completed]))
                == .start(["d"]))
        // A retry waiting (its latest attempt PENDING) is not started again.
        #expect(JobPlan.next(Self.diamond, latest: Self.attempts(["a": .pending])) == .start([]))
    }

    @Test func aJobEndsWhenEveryStepHasCompletedOrOneHasFailed() {
        let all = Self.attempts(["a": .completed, "b": .completed, "c": .completed, "d": .completed])
        #expect(JobPlan.next(Self.diamond, latest: all) == .completed)
        // The first failed step in the pipeline's order is named, with its error.
        let failed = Self.attempts(["a": .completed, "b": .running, "c": .failed])
        #expect(JobPlan.next(Self.diamond, latest: failed) == .failed(step: "c", error: "HTTP 500"))
        #expect(
            JobPlan.next(Self.diamond, latest: ["a": JobPlan.Attempt(status: .canceled)])
                == .failed(step: "a", error: "canceled"))
    }

    @Test func serviceConfigIsReadWithDefaultsAndEveryProblemNamed() throws {
        let defaults = try TaskServiceConfig.parse(Data("{}".utf8)).get()
        #expect(defaults == TaskServiceConfig())
        #expect(defaults.timeoutSeconds == 300 && defaults.retries == 0 && defaults.operation == nil)
        let set = try TaskServiceConfig.parse(
            Data(
                #"{"operation":"dock","cancel_operation":"stop","timeout_seconds":5,"retries":2,"backoff_seconds":0.5,"max_concurrency":3}"#
                    .utf8)
        ).get()
        #expect(set.operation == "dock" && set.cancelOperation == "stop" && set.timeoutSeconds == 5)
        #expect(set.retries == 2 && set.backoffSeconds == 0.5 && set.maxConcurrency == 3)
        // Doubling back-off from the first retry, capped at an hour.
        #expect(set.backoff(after: 1) == .milliseconds(500))
        #expect(set.backoff(after: 3) == .milliseconds(2000))
        var slow = TaskServiceConfig()
        slow.backoffSeconds = 3000
        #expect(slow.backoff(after: 5) == .seconds(3600))

        guard
            case .failure(let problems) = TaskServiceConfig.parse(
                Data(#"{"timeout_seconds":0,"retries":true,"backoff_seconds":"1","operation":""}"#.utf8))
        else {
            Issue.record("accepted")
            return
        }
        #expect(
            Set(problems.all) == [
                "service_config.timeout_seconds: must be a whole number from 1 to 86400",
                "service_config.retries: must be a whole number from 0 to 20",
                "service_config.backoff_seconds: must be a number from 0 to 3600",
                "service_config.operation: must be an operationId (1 to 200 characters)",
            ])
        guard case .failure = TaskServiceConfig.parse(Data("[1]".utf8)) else {
            Issue.record("an array accepted")
            return
        }
    }
}
