"""config/register.yaml: how the register proposes and evaluates actions."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from resources.config_files import load_config
from resources.project import config_dir

FILE = "register.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Proposals(_Strict):
    snooze_days_after_reject: int = Field(default=91, ge=0)


class Evaluation(_Strict):
    window_days: int = Field(default=28, ge=7)
    settle_days: int = Field(default=7, ge=0)
    alpha: float = Field(default=0.05, gt=0, lt=1)
    min_relative_change: float = Field(default=0.05, ge=0)
    min_days: int = Field(default=10, ge=3)


class RegisterConfig(_Strict):
    proposals: Proposals = Proposals()
    evaluation: Evaluation = Evaluation()


def register_config() -> RegisterConfig:
    """The validated file; defaults when a config folder has no register.yaml (it is optional,
    so configuration folders made before the register existed keep working)."""
    if not (config_dir() / FILE).exists():
        return RegisterConfig()
    return load_config(FILE, RegisterConfig)
