import Foundation
import Lantern

/// Transcoder sets as every front-end names them: per-layer folders, folders holding them, or one
/// cross-layer transcoder folder (params_layer_{i}.safetensors).
public enum TranscoderFolders {
    /// The transcoder folders `path` is or holds, in layer order.
    public static func folders(_ path: String) throws -> [String] {
        if GemmaScope2.isFolder(path) { return [path] }
        let inside = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [])
            .map { (path as NSString).appendingPathComponent($0) }.filter(GemmaScope2.isFolder)
        guard !inside.isEmpty else {
            throw LanternError.badFile(path: path, field: "folder", problem: "is not a transcoder folder (params.safetensors + config.json) and holds none")
        }
        return inside.sorted { (SAE.layerInPath($0) ?? 0, $0) < (SAE.layerInPath($1) ?? 0, $1) }
    }

    /// The model with the transcoders of `paths` in place of its MLPs.
    public static func replacementModel(_ paths: [String], _ loaded: LanternModel) throws -> ReplacementModel {
        if paths.count == 1, GemmaScope2.isCrossLayerFolder(paths[0]) {
            let clt = try GemmaScope2.loadCrossLayerTranscoder(directory: paths[0], backend: loaded.backend)
            return try ReplacementModel(model: loaded.transformer, crossLayer: clt)
        }
        let set = try paths.flatMap(folders).map { try GemmaScope2.loadTranscoder(directory: $0, backend: loaded.backend) }
            .sorted { ($0.config.layer ?? -1) < ($1.config.layer ?? -1) }
        return try ReplacementModel(model: loaded.transformer, transcoders: set)
    }
}
