"""This machine: RAM, GPUs and their VRAM, CPU features, memory bandwidth, and what the installed llama.cpp can do."""
