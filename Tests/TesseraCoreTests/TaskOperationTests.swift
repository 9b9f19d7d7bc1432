import Foundation
import Testing

@testable import TesseraCore

@Suite struct TaskOperationTests {
    /// A task interface with a request body and responses behind `$ref`s, exact, range and default responses.
    private static let spec = """
        {
          "openapi": "3.1.0",
          "info": {"title": "docking", "version": "1.0.0"},
          "paths": {
            "/dock": {
              "post": {
                "operationId": "dock",
                "requestBody": {"$ref": "#/components/requestBodies/Dock"},
                "responses": {
                  "200": {
                    "description": "done",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DockResult"}}}
                  },
                  "2XX": {
                    "description": "accepted",
                    "content": {"application/json": {"schema": {"type": "object", "required": ["accepted"]}}}
                  },
                  "default": {"$ref": "#/components/responses/Error"}
                }
              }
            },
            "/executions/{execution_id}": {
              "get": {
                "operationId": "getExecution",
                "responses": {
                  "200": {
                    "description": "the execution",
                    "content": {"application/json": {"schema": {"type": "object", "required": ["state"]}}}
                  }
                }
              },
              "delete": {
                "operationId": "cancelExecution",
                "responses": {
                  "204": {"description": "cancelled"},
                  "default": {"$ref": "#/components/responses/Error"}
                }
              }
            }
          },
          "components": {
            "requestBodies": {
              "Dock": {
                "required": true,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DockRequest"}}}
              }
            },
            "responses": {
              "Error": {
                "description": "failure",
                "content": {"application/json": {"schema": {"type": "object", "required": ["message"]}}}
              }
            },
            "schemas": {
              "DockRequest": {
                "type": "object",
                "required": ["inputs"],
                "additionalProperties": false,
                "properties": {
                  "inputs": {
                    "type": "object",
                    "required": ["ligand", "receptor"],
                    "properties": {
                      "ligand": {"type": "string", "minLength": 1, "maxLength": 5},
                      "receptor": {"type": "string"},
                      "exhaustiveness": {"type": "integer", "minimum": 1, "exclusiveMaximum": 33},
                      "mode": {"enum": ["fast", "precise"]},
                      "seed": {"type": ["integer", "null"]},
                      "flags": {"type": "array", "items": {"type": "boolean"}, "maxItems": 3}
                    }
                  }
                }
              },
              "DockResult": {
                "type": "object",
                "required": ["poses"],
                "properties": {"poses": {"type": "array", "items": {"$ref": "#/components/schemas/Pose"}}}
              },
              "Pose": {"type": "object", "properties": {"score": {"type": "number", "maximum": 0}}},
              "a/b~c": {"type": "string"},
              "~1": {"type": "boolean"},
              "Loop": {"$ref": "#/components/schemas/Loop"},
              "Fork": {"anyOf": [{"$ref": "#/components/schemas/Fork"}, {"$ref": "#/components/schemas/Fork"}]},
              "Node": {
                "type": "object",
                "properties": {"value": {"type": "integer"}, "next": {"$ref": "#/components/schemas/Node"}}
              }
            }
          }
        }
        """

    private func json(_ text: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(text.utf8), options: .fragmentsAllowed)
    }

    private func document(_ text: String = spec) throws -> [String: Any] {
        try #require(try json(text) as? [String: Any])
    }

    private func operation(_ id: String) throws -> TaskOperation {
        try #require(TaskOperation.find(id, in: try document()))
    }

    /// The problems of an instance against a schema, both given as JSON text, with refs into `spec`.
    private func problems(_ instance: String, _ schema: String, in text: String = spec) throws -> [String] {
        JSONSchemaCheck.problems(
            try json(instance), schema: try json(schema), document: try document(text), root: "request")
    }

    /// A schema that is a `$ref` to `#/components/schemas/<name>`.
    private func ref(_ name: String) -> String {
        "{\"$ref\": \"#/components/schemas/\(name)\"}"
    }

    @Test func anOperationIsFoundByItsID() throws {
        let dock = try operation("dock")
        #expect(dock.operationID == "dock" && dock.method == "POST" && dock.path == "/dock")
        #expect(dock.requestSchema != nil)
        #expect(Set(dock.responseSchemas.keys) == ["200", "2XX", "default"])

        let get = try operation("getExecution")
        #expect(get.method == "GET" && get.path == "/executions/{execution_id}")
        #expect(get.requestSchema == nil)

        let cancel = try operation("cancelExecution")
        #expect(cancel.method == "DELETE" && cancel.path == "/executions/{execution_id}")
        #expect(cancel.responseSchemas["204"] == "true")

        #expect(TaskOperation.find("undock", in: try document()) == nil)
        #expect(TaskOperation.find("dock", in: [:]) == nil)
    }

    @Test func aJSONMediaTypeWithParametersCounts() throws {
        let text = """
            {"openapi": "3.0.3", "paths": {"/run": {"put": {
              "operationId": "run",
              "requestBody": {"content": {
                "text/plain": {"schema": {"type": "string"}},
                ";": {},
                "Application/JSON; charset=utf-8": {"schema": {"type": "object", "required": ["n"]}}
              }},
              "responses": {"2xx": {"description": "ok"}, "x-note": {}}
            }}}}
            """
        let run = try #require(TaskOperation.find("run", in: try document(text)))
        #expect(run.method == "PUT" && run.requestSchema == #"{"required":["n"],"type":"object"}"#)
        #expect(run.responseSchemas == ["2XX": "true"])
        #expect(
            run.requestProblems([String: Any](), document: try document(text)) == [
                "request.n: required property is missing"
            ])
    }

    @Test func pathPlaceholdersAreFilledPercentEncoded() throws {
        let get = try operation("getExecution")
        #expect(get.path(filling: ["execution_id": "abc-123"]) == "/executions/abc-123")
        #expect(get.path(filling: ["execution_id": "a b/c?d#e"]) == "/executions/a%20b%2Fc%3Fd%23e")
        #expect(get.path(filling: ["execution_id": "é~v1.2_x"]) == "/executions/%C3%A9~v1.2_x")
        #expect(get.path(filling: ["execution_id": ".."]) == "/executions/%2E%2E")
        #expect(get.path(filling: [:]) == "/executions/{execution_id}")
        #expect(get.path(filling: ["other": "x"]) == "/executions/{execution_id}")
    }

    @Test func aValidRequestHasNoProblems() throws {
        let body = try json(
            """
            {"inputs": {"ligand": "CCO", "receptor": "1abc", "exhaustiveness": 8, "mode": "fast", "seed": null,
                        "flags": [true, false], "extra": {"anything": [1, "x"]}}}
            """)
        #expect(try operation("dock").requestProblems(body, document: try document()) == [])
        let minimal = try json(#"{"inputs": {"ligand": "C", "receptor": "r", "exhaustiveness": 4.0, "seed": 7}}"#)
        #expect(try operation("dock").requestProblems(minimal, document: try document()) == [])
    }

    @Test func requestProblemsNameTheirPath() throws {
        let body = try json(
            #"{"inputs": {"ligand": 5, "exhaustiveness": 1.5, "mode": "slow", "flags": [true, 1]}, "extra": 1}"#)
        let found = try operation("dock").requestProblems(body, document: try document())
        #expect(
            found == [
                "request.inputs.receptor: required property is missing",
                "request.inputs.exhaustiveness: expected an integer, got a number",
                "request.inputs.flags[1]: expected a boolean, got a number",
                "request.inputs.ligand: expected a string, got a number",
                #"request.inputs.mode: must be one of ["fast","precise"]"#,
                "request.extra: property is not allowed (additionalProperties is false)",
            ])
        let empty = try operation("dock").requestProblems(try json("{}"), document: try document())
        #expect(empty == ["request.inputs: required property is missing"])
        let notAnObject = try operation("dock").requestProblems(try json("[]"), document: try document())
        #expect(notAnObject == ["request: expected an object, got an array"])
    }

    @Test func booleansAndNumbersAreTold() throws {
        #expect(try problems("true", #"{"type": "number"}"#) == ["request: expected a number, got a boolean"])
        #expect(try problems("false", #"{"type": "integer"}"#) == ["request: expected an integer, got a boolean"])
        #expect(try problems("1", #"{"type": "boolean"}"#) == ["request: expected a boolean, got a number"])
        #expect(try problems("0", #"{"type": "boolean"}"#) == ["request: expected a boolean, got a number"])
        #expect(try problems("false", #"{"type": "boolean"}"#) == [])
        #expect(try problems("1", #"{"type": "number"}"#) == [])
        #expect(try problems("1.0", #"{"type": "integer"}"#) == [])
        #expect(try problems("1.5", #"{"type": "integer"}"#) == ["request: expected an integer, got a number"])
        #expect(try problems("true", #"{"enum": [1, "true"]}"#) == [#"request: must be one of [1,"true"]"#])
        #expect(try problems("1", #"{"const": true}"#) == ["request: must be true"])
        #expect(try problems("1.0", #"{"const": 1}"#) == [])
        #expect(try problems(#"{"b": [1], "a": null}"#, #"{"const": {"a": null, "b": [1.0]}}"#) == [])
    }

    @Test func typeListsAndNullable() throws {
        let request = #"{"inputs": {"ligand": "C", "receptor": "r", "seed": "7"}}"#
        #expect(
            try problems(request, ref("DockRequest")) == [
                "request.inputs.seed: expected an integer or null, got a string"
            ])
        let spec30 = #"{"openapi": "3.0.3", "paths": {}}"#
        #expect(try problems("null", #"{"type": "string", "nullable": true}"#, in: spec30) == [])
        #expect(try problems("null", #"{"type": "string"}"#, in: spec30) == ["request: expected a string, got null"])
        #expect(
            try problems("null", #"{"type": "string", "nullable": true, "enum": ["a"]}"#, in: spec30)
                == [#"request: must be one of ["a"]"#])
        #expect(try problems("null", #"{"type": ["string", "null"]}"#) == [])
    }

    @Test func objectAndArrayKeywords() throws {
        let schema = #"{"additionalProperties": {"type": "integer"}, "properties": {"a": {"type": "string"}}}"#
        #expect(
            try problems(#"{"a": "x", "b": 1, "c d": "y"}"#, schema) == [
                #"request["c d"]: expected an integer, got a string"#
            ])
        #expect(try problems(#"{"x": 1}"#, #"{"additionalProperties": false, "patternProperties": {"^x": {}}}"#) == [])
        let items = #"{"items": {"type": "string"}, "minItems": 2, "maxItems": 3}"#
        #expect(try problems(#"["a"]"#, items) == ["request: must have at least 2 items, has 1"])
        #expect(
            try problems(#"["a", 2, "c", null]"#, items) == [
                "request: must have at most 3 items, has 4",
                "request[1]: expected a string, got a number",
                "request[3]: expected a string, got null",
            ])
        #expect(
            try problems("[1, 2]", #"{"items": false}"#) == [
                "request[0]: no value is allowed here", "request[1]: no value is allowed here",
            ])
        #expect(try problems("1", "true") == [] && problems("1", "false") == ["request: no value is allowed here"])
        #expect(try problems("1", "[]") == [] && problems("1", #"{"type": "string", "frobnicate": 1}"#).count == 1)
    }

    @Test func boundsOfNumbersAndLengths() throws {
        #expect(try problems("0", #"{"minimum": 1}"#) == ["request: must be at least 1"])
        #expect(try problems("1", #"{"minimum": 1, "maximum": 1}"#) == [])
        #expect(try problems("2.5", #"{"maximum": 2}"#) == ["request: must be at most 2"])
        #expect(try problems("33", #"{"exclusiveMaximum": 33}"#) == ["request: must be less than 33"])
        #expect(try problems("0.5", #"{"exclusiveMinimum": 0.5}"#) == ["request: must be greater than 0.5"])
        // OpenAPI 3.0's boolean forms make minimum and maximum strict.
        #expect(try problems("1", #"{"minimum": 1, "exclusiveMinimum": true}"#) == ["request: must be greater than 1"])
        #expect(try problems("9", #"{"maximum": 9, "exclusiveMaximum": true}"#) == ["request: must be less than 9"])
        #expect(try problems("9", #"{"maximum": 9, "exclusiveMaximum": false}"#) == [])
        #expect(try problems("\"x\"", #"{"minimum": 1}"#) == [])
        // Lengths count Unicode code points: "é" as one precomposed scalar, "🧬" as one (two UTF-16 units).
        #expect(try problems(#""é🧬""#, #"{"minLength": 2, "maxLength": 2}"#) == [])
        #expect(try problems(#""""#, #"{"minLength": 1}"#) == ["request: must be at least 1 characters long, is 0"])
        #expect(
            try problems(#""abcdef""#, #"{"maxLength": 5}"#) == ["request: must be at most 5 characters long, is 6"])
        #expect(try problems(#""a+""#, #"{"pattern": "^(a+)+$"}"#) == [])  // patterns are not run
    }

    @Test func combinations() throws {
        let anyOf = #"{"anyOf": [{"type": "string", "minLength": 3}, {"type": "integer"}]}"#
        #expect(try problems("\"abc\"", anyOf) == [] && problems("4", anyOf) == [])
        #expect(try problems("\"ab\"", anyOf) == ["request: matches none of the anyOf schemas"])
        let oneOf = #"{"oneOf": [{"type": "number"}, {"type": "integer"}, {"type": "string"}]}"#
        #expect(try problems("1.5", oneOf) == [] && problems("\"x\"", oneOf) == [])
        #expect(
            try problems("2", oneOf) == [
                "request: matches more than one of the oneOf schemas (numbers 0, 1, counting from 0)"
            ])
        #expect(try problems("null", oneOf) == ["request: matches none of the oneOf schemas"])
        let allOf = #"{"allOf": [{"required": ["a"]}, {"properties": {"b": {"type": "string"}}}]}"#
        #expect(
            try problems(#"{"b": 1}"#, allOf) == [
                "request.a: required property is missing", "request.b: expected a string, got a number",
            ])
        #expect(try problems("1", #"{"not": {"type": "integer"}}"#) == ["request: must not match the schema under not"])
        #expect(try problems("1.5", #"{"not": {"type": "integer"}}"#) == [])
    }

    @Test func refsResolveIntoTheDocument() throws {
        #expect(try problems("1", ref("a~1b~0c")) == ["request: expected a string, got a number"])
        #expect(try problems("1", ref("~01")) == ["request: expected a boolean, got a number"])
        #expect(
            try problems("1", ref("Missing")) == [
                "request: cannot resolve $ref '#/components/schemas/Missing'"
            ])
        #expect(
            try problems("1", #"{"$ref": "other.json#/Pose"}"#) == ["request: cannot resolve $ref 'other.json#/Pose'"])
        let result = ref("DockResult")
        #expect(
            try problems(#"{"poses": [{"score": -1.5}, {"score": 2}]}"#, result) == [
                "request.poses[1].score: must be at most 0"
            ])
        // 3.1 applies keywords next to a $ref; 3.0 ignores them.
        let sibling = ##"{"$ref": "#/components/schemas/Pose", "required": ["score"]}"##
        #expect(try problems("{}", sibling) == ["request.score: required property is missing"])
        #expect(
            try problems("{}", sibling, in: #"{"openapi": "3.0.3", "components": {"schemas": {"Pose": {}}}}"#) == [])
    }

    @Test func refCyclesTerminate() throws {
        let loop = try problems("1", ref("Loop"))
        #expect(loop.count == 1 && loop[0].hasPrefix("request: subschemas nest over 64 deep"))
        let fork = try problems("1", ref("Fork"))
        #expect(fork.count == 1 && fork[0].hasPrefix("request: subschemas nest over 64 deep"))
        // A recursive schema over a finite value is no cycle.
        let node = ref("Node")
        #expect(try problems(#"{"value": 1, "next": {"value": 2, "next": {"value": 3}}}"#, node) == [])
        #expect(
            try problems(#"{"next": {"next": {"value": "x"}}}"#, node) == [
                "request.next.next.value: expected an integer, got a string"
            ])
    }

    @Test func refsBranchingExponentiallyAreCutShort() throws {
        // S0 to S29 each try S(n+1) twice through anyOf; S30 fails, so a full check would take 2^30 steps.
        let schemas = (0..<30).map { n in
            "\"S\(n)\": {\"anyOf\": [\(ref("S\(n + 1)")), \(ref("S\(n + 1)"))]}"
        }
        let text =
            #"{"openapi": "3.1.0", "components": {"schemas": {"S30": {"type": "string"}, "#
            + schemas.joined(separator: ", ") + "}}}"
        let found = JSONSchemaCheck.problems(
            1, schema: try json(ref("S0")), document: try document(text), root: "request", visitLimit: 10_000)
        #expect(found == ["request: the schema takes too long to check (over 10000 steps)"])
    }

    @Test func problemsStopAtTwenty() throws {
        let many = "[" + Array(repeating: "\"x\"", count: 30).joined(separator: ",") + "]"
        let found = try problems(many, #"{"items": {"type": "integer"}}"#)
        #expect(found.count == 20 && found.last == "request[19]: expected an integer, got a string")
    }

    @Test func theMostSpecificResponseSchemaApplies() throws {
        let dock = try operation("dock")
        let document = try document()
        let poses = try json(#"{"poses": []}"#)
        let accepted = try json(#"{"accepted": true}"#)
        let message = try json(#"{"message": "no receptor"}"#)
        #expect(dock.responseProblems(poses, status: 200, document: document) == [])
        #expect(
            dock.responseProblems(accepted, status: 200, document: document) == [
                "response.poses: required property is missing"
            ])
        #expect(dock.responseProblems(accepted, status: 202, document: document) == [])
        #expect(
            dock.responseProblems(poses, status: 202, document: document) == [
                "response.accepted: required property is missing"
            ])
        #expect(dock.responseProblems(message, status: 500, document: document) == [])
        #expect(
            dock.responseProblems(poses, status: 422, document: document) == [
                "response.message: required property is missing"
            ])
        // A declared response without a JSON schema still beats "default"; no schema at all means no problems.
        let cancel = try operation("cancelExecution")
        #expect(cancel.responseProblems(poses, status: 204, document: document) == [])
        #expect(cancel.responseProblems(poses, status: 404, document: document).count == 1)
        #expect(try operation("getExecution").responseProblems(poses, status: 404, document: document) == [])
    }
}
