"""Records per backend call in `judge_records`: the backend decides (`chunk_size_for`),
vLLM gets thousands at once, HF keeps 64; an explicit `judge.chunk_size` still wins."""

from genrm.backends.base import DEFAULT_CHUNK_SIZE, chunk_size_for
from genrm.backends.hf import HFBackend
from genrm.backends.vllm import VLLMBackend
from genrm.config import load_recipe
from genrm.data.record import PreferenceRecord, user_prompt
from genrm.evaluation.judging import judge_records
from genrm.evaluation.models import GenRM
from genrm.evaluation.schema import EvalRecipe, expand_shortcuts


def _recs(n):
    return [PreferenceRecord(source="generic", domain="general", prompt=user_prompt(f"Question {i}?"),
                             chosen=f"good {i}", rejected=f"bad {i}", label_kind="gold") for i in range(n)]


class Counting:
    """Answers A for every prompt and records the size of each generate call."""

    name = "counting"

    def __init__(self, preferred=None):
        if preferred is not None:
            self.preferred_chunk_size = preferred
        self.calls: list[int] = []

    def generate(self, prompts, sampling):
        self.calls.append(len(prompts))
        return ["1. fine\n\\boxed{A>B}"] * len(prompts)


def test_the_backend_class_states_its_chunk():
    # Class attributes: no model or vLLM install needed to read them.
    assert HFBackend.preferred_chunk_size == 64 == DEFAULT_CHUNK_SIZE
    assert VLLMBackend.preferred_chunk_size >= 4096
    assert chunk_size_for(Counting()) == DEFAULT_CHUNK_SIZE  # a backend without a preference
    assert chunk_size_for(Counting(preferred=0)) == DEFAULT_CHUNK_SIZE  # nonsense falls back


def test_judge_records_sends_what_the_backend_prefers():
    recs = _recs(300)
    hf_like, vllm_like = Counting(preferred=64), Counting(preferred=VLLMBackend.preferred_chunk_size)
    judge_records(recs, hf_like, orders=("AB", "BA"), progress=False)
    judge_records(recs, vllm_like, orders=("AB", "BA"), progress=False)
    assert hf_like.calls == [128, 128, 128, 128, 88]  # 64 records x 2 orders a call, as before
    assert vllm_like.calls == [600]  # every record in both orders in one call
    explicit = Counting(preferred=4096)
    judge_records(recs, explicit, chunk_size=100, progress=False)
    assert explicit.calls == [100, 100, 100]


def test_evaluator_leaves_the_chunk_to_the_backend():
    recipe = load_recipe(expand_shortcuts(["models=[embedded:smollm2-135m]"]), EvalRecipe)
    assert recipe.judge.chunk_size is None
    backend = Counting(preferred=4096)
    n = GenRM(backend, recipe.judge, seed=0).compare(_recs(130), on_result=lambda item: None)
    assert backend.calls == [260] and n == 260
