import Foundation
import Lantern

/// Every analysis by name: what the server serves at `/api/<name>`, what the C ABI's
/// `lantern_analyze` and Python's `Model.analyze` run, what the OpenAPI document describes.
public enum AnalysisCatalog {
    public static let all: [any AnalysisRequest.Type] = [
        NextRequest.self, GenerateRequest.self, LensRequest.self, AttentionRequest.self, FeaturesRequest.self,
        NeuronsRequest.self, SteerRequest.self, PatchSweepRequest.self, AttributeRequest.self, PatchRequest.self,
        FeatureDashboardRequest.self, FeatureSearchRequest.self, NeuronDashboardRequest.self, GraphRequest.self, TraceRequest.self, TranscoderFeatureRequest.self, SAEEvalRequest.self,
    ]

    public static var names: [String] { all.map { $0.name } }

    public static func named(_ name: String) throws -> any AnalysisRequest.Type {
        for type in all where type.name == name { return type }
        throw AnalysisError.invalid("no analysis '\(name)': there are \(names.joined(separator: ", "))")
    }

    /// The request `json` describes for analysis `name`, validated, run, and its result's JSON.
    public static func run(_ name: String, json: Data, on context: AnalysisContext, monitor: AnalysisMonitor = AnalysisMonitor()) throws -> Data {
        let request = try named(name).init(json: try RequestFields(json: json))
        return try request.json(on: context, monitor: monitor)
    }
}
