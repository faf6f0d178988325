// The library a Swift program imports: everything public in Lantern's modules.
@_exported import LanternCore
@_exported import CPUBackend
@_exported import Formats
@_exported import Models
@_exported import Tokenizers
@_exported import VulkanBackend
@_exported import Interpretability
@_exported import Presentation
