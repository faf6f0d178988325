import Analyses

/// The API described for scripts and tools: OpenAPI 3.1, served at /openapi.json. The analyses'
/// request bodies come from their requests' field lists, with this server's limits.
enum OpenAPI {
    static func document(limits: AnalysisLimits) -> [String: Any] {
        var document = fixed
        var paths = document["paths"] as! [String: Any]
        for type in LanternServer.servedAnalyses {
            paths["/api/" + type.name.replacingOccurrences(of: " ", with: "/")] = post(type.summary + " (`lantern \(type.name) --json`'s object.)", schema: type.requestSchema(limits: limits))
        }
        paths["/api/steer/stream"] = post("Steering as server-sent events: `start`, `token` ({run: baseline|steered, index, id, text}) per forward pass, then `done` (the /api/steer object) or `error`.",
                                          schema: SteerRequest.requestSchema(limits: limits), stream: true)
        paths["/api/graph/stream"] = post("The graph as server-sent events: `start`, `progress` ({done, total} targets) per slice, then `done` (the /api/graph object) or `error`.",
                                          schema: GraphRequest.requestSchema(limits: limits), stream: true)
        paths["/api/patch/sweep/stream"] = post("The sweep as server-sent events: `start`, `progress` ({done, total} cells), then `done` (the /api/patch/sweep object) or `error`.",
                                                schema: PatchSweepRequest.requestSchema(limits: limits), stream: true)
        document["paths"] = paths
        return document
    }

    static var fixed: [String: Any] {
        ["openapi": "3.1.0",
         "info": ["title": "Lantern", "version": "1",
                  "description": "One model and the SAEs, tuned lens, transcoders and corpus given on `lantern serve`'s command line. Each analysis returns the JSON its CLI command prints with --json. Errors are {\"error\": \"...\"} with a 4xx status (5xx for the server's own faults); requests never name files."],
         "paths": [
            "/api/info": get("The model, its SAEs (chosen by index), the tuned lens, the queue and the limits.", ref: "Object"),
            "/api/scan": get("Progress of the background feature scans (one per SAE).", ref: "Object"),
         ],
         "components": ["schemas": [
            "Object": ["type": "object"],
            "Error": ["type": "object", "required": ["error"], "properties": ["error": ["type": "string"]]],
         ]]]
    }

    static var errors: [String: Any] {
        let error: [String: Any] = ["content": ["application/json": ["schema": ["$ref": "#/components/schemas/Error"]]]]
        return ["400": error.merging(["description": "A bad request: the field and what was expected."]) { $1 },
                "403": error.merging(["description": "A request naming a file or path."]) { $1 },
                "404": error.merging(["description": "No such endpoint, or no SAE/transcoders/corpus on this server."]) { $1 },
                "413": error.merging(["description": "A body or prompt over the server's limits."]) { $1 },
                "503": error.merging(["description": "The model's queue is full, or too many graphs and sweeps run at once."]) { $1 }]
    }

    static func get(_ summary: String, ref: String) -> [String: Any] {
        ["get": ["summary": summary, "responses": ["200": ["description": "OK", "content": ["application/json": ["schema": ["$ref": "#/components/schemas/\(ref)"]]]]]]]
    }

    static func post(_ summary: String, schema: [String: Any], stream: Bool = false) -> [String: Any] {
        let ok: [String: Any] = stream
            ? ["description": "An event stream", "content": ["text/event-stream": ["schema": ["type": "string"]]]]
            : ["description": "OK", "content": ["application/json": ["schema": ["$ref": "#/components/schemas/Object"]]]]
        return ["post": ["summary": summary,
                         "requestBody": ["required": true, "content": ["application/json": ["schema": schema]]],
                         "responses": errors.merging(["200": ok]) { $1 }]]
    }
}
