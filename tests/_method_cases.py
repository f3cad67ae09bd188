# ----------------------------------------------------------------------------------- distillation methods
class _FakePlan:
    """A grid cell's job planner that records what an arm asks for (jobs are plain dicts here)."""

    def __init__(self, teacher_dim: int = 64, student_dim: int = 8) -> None:
        self.teacher_dim, self.student_dim = teacher_dim, student_dim
        self.teacher = {"kind": "pretrain", "dim": teacher_dim}

    def student(self):
        return {"kind": "pretrain", "dim": self.student_dim}

    def stage1(self):
        return {"kind": "stage1", "dim": self.student_dim, "teacher": self.teacher}

    def stage2(self, stage1):
        return {"kind": "stage2", "dim": self.student_dim, "start": stage1}

    def stage2_from_scratch(self):
        return {"kind": "stage2", "dim": self.student_dim, "start": None}

    def link(self, dim, teacher, defaults):
        return {"kind": "stage1", "dim": dim, "teacher": teacher, "defaults": dict(defaults)}


def _scores(rows: int = 6, negatives: int = 5, seed: int = 0):
    import torch

    from neuralkg_distil.methods.losses import Scores

    g = torch.Generator().manual_seed(seed)
    return Scores(torch.randn(rows, generator=g, requires_grad=True), torch.randn(rows, negatives, generator=g, requires_grad=True))


class DistillationMethodCase:
    """Template: every registered distillation method passes these (set ``method_name``)."""

    method_name: str = ""

    @property
    def method(self):
        from neuralkg_distil.methods.registry import method_named

        return method_named(self.method_name)

    def _args(self, **values):
        import argparse

        from neuralkg_distil.methods.losses.base import LossSettings

        base = {f: getattr(LossSettings, f) for f in LossSettings.__dataclass_fields__}
        return argparse.Namespace(**{**base, "model_name": "ComplEx", "teacher_bf16": False, **values})

    def test_roles_name_a_student_and_unique_checkpoint_prefixes(self):
        roles = self.method.roles
        assert [r.name for r in roles if r.kind == "student"] == ["model"]  # NeuralKG's own prefix
        assert len({r.name for r in roles}) == len(roles)
        assert all(r.kind in ("student", "teacher") for r in roles)

    def test_each_phase_says_what_the_teacher_does(self):
        import torch

        from neuralkg_distil.kge.spec import ModelSpec, build_model

        for stage, phase in self.method.phases.items():
            assert phase.stage == stage
            teacher = build_model(ModelSpec("ComplEx", 4, 10, 2, margin=6.0))
            policy = self.method.teacher_policy(stage, self._args())
            policy.prepare(teacher)
            trainable = list(policy.trainable(teacher))
            assert bool(trainable) == policy.trains_teacher
            if not policy.trains_teacher:  # a frozen teacher gets no gradient at all
                with policy.scoring():
                    score = teacher(torch.tensor([[0, 0, 1]])).sum()
                assert not score.requires_grad

    def test_loss_is_finite_and_reaches_the_student_only_in_stage_1(self):
        if self.method.loss_class is None:
            return  # the method trains with the loss --loss_name chooses (tested with that loss's method)
        loss = self.method.build_loss(self._args())
        student, teacher = _scores(seed=1), _scores(seed=2)
        value = loss(student, teacher, 1)
        value.backward()
        assert value.isfinite() and student.pos.grad is not None and teacher.pos.grad is None

    def test_epoch_hook_applies_the_soft_weight_schedule(self):
        if self.method.loss_class is None:
            return
        loss = self.method.build_loss(self._args(soft_weight_schedule="linear", soft_weight_warmup=10))
        assert self.method.on_train_epoch_start(loss, 5) == {"soft_weight_scale": 0.5}
        assert self.method.on_train_epoch_start(loss, 20) == {"soft_weight_scale": 1.0}
        constant = self.method.build_loss(self._args())
        assert self.method.on_train_epoch_start(constant, 5) == {}

    def test_grid_arms_give_a_result_job(self):
        for name, arm in self.method.arms.items():
            jobs = arm(_FakePlan())
            assert "result" in jobs, name
            assert jobs["result"]["dim"] == 8, name

    def test_checkpoint_entry_names_the_method(self):
        if self.method.loss_class is None:
            return
        entry = self.method.checkpoint_entry(self.method.build_loss(self._args()))
        assert entry["method"] == self.method.name and entry["loss"]["name"] == self.method.loss_class.__name__
