"""Language models for planning: the embedded word-level model (pre-trained on a task stream), any local
Hugging Face causal LM, batched sampling (transformers or vLLM backends) and supervised fine-tuning.

Import what you use from its module (`iterdeploy.model.sampling.sample`, `iterdeploy.model.training.finetune`);
this package imports nothing, so `import iterdeploy.model` costs no torch.
"""
