"""Lantern from Python: TransformerLens's and SAELens's API over Lantern's exact Swift engine.

    import lantern
    model = lantern.Model.load("gemma3-270m")             # a name, a HF directory or a .gguf
    logits, cache = model.run_with_cache("The reliability of Wikipedia is very")
    cache["blocks.3.hook_resid_post"]                      # numpy [batch, pos, d_model]
"""
from ._lib import (BackendError, BadFileError, CancelledError, InvalidArgumentError, LanternError, ShapeError,
                   UnsupportedError)
from .arrays import Config, get_act_name, to_torch
from .cache import ActivationCache
from .hooks import HookPoint
from .lens import LensResult, LensTable
from .model import Model
from .tokenizer import Tokenizer
from .weights import ModelHookPoint
from .sae import SAE, Steering
from . import cli
from .cli import (evaluate_lens, evaluate_sae_activations, evaluate_transcoders, features_top, harvest, harvest_transcoders,
                  neurons_top, superposition, sweep_saes, train_lens, train_sae, train_transcoders, finetune_sae)

__all__ = ["Model", "Config", "ActivationCache", "HookPoint", "ModelHookPoint", "Tokenizer", "SAE", "Steering", "LensResult", "LensTable",
           "LanternError", "BadFileError", "ShapeError", "InvalidArgumentError", "UnsupportedError", "BackendError",
           "CancelledError",
           "to_torch", "get_act_name", "cli", "harvest", "train_sae", "finetune_sae", "harvest_transcoders", "train_transcoders",
           "evaluate_sae_activations", "sweep_saes", "evaluate_transcoders", "evaluate_lens", "train_lens", "superposition",
           "features_top", "neurons_top"]
__version__ = "0.1.0"
