from .topdown import LlavaLlamaModel, LlavaTopDownLlamaConfig, LlavaTopDownLlamaModel

__all__ = ["LlavaLlamaModel", "LlavaTopDownLlamaConfig", "LlavaTopDownLlamaModel"]
