from .resumable_samplers import ResumableDefaultSampler, ResumableInfiniteSampler

__all__ = ['ResumableDefaultSampler', 'ResumableInfiniteSampler']
