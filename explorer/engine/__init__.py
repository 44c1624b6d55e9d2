"""Everything that touches llama.cpp, always in child processes and always importing llama_cpp lazily."""
