from pathlib import Path

from setuptools import find_packages, setup

here = Path(__file__).parent
version = {}
exec((here / "wethink_verl" / "version.py").read_text(), version)

setup(
    name="wethink-verl",
    version=version["__version__"],
    description="WeThink's hybrid reward (rule verifiers + LLM judge) and data layer for verl and EasyR1",
    long_description=(here / "README.md").read_text(encoding="utf-8") if (here / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["wethink_verl", "wethink_verl.*"]),
    include_package_data=True,
    package_data={"wethink_verl": ["judge/templates/*", "data/templates/*", "demo/assets/*", "recipes/**/*"]},
    install_requires=[
        # core: verifiers and reward composition (no verl, Ray or torch needed)
        "math-verify>=0.8",
        "pint>=0.24",  # units in `math` and `number` answers: converted, never dropped (20 mm = 2 cm; kg is not g)
        "rapidfuzz>=3.0",
        # linear-time patterns over untrusted text (answers, judge replies)
        "google-re2>=1.1",
        # judge client, dataset adapter
        "aiohttp>=3.9",
        "pyarrow>=14",
        "pillow>=10",
        "tqdm>=4.60",
        "pyyaml>=6",
    ],
    extras_require={
        # the integration layer; verl brings Ray, torch, transformers, omegaconf, hydra. verl's wheel
        # leaves what its trainer imports to its `verl-core` extra: TransferQueue (the V1 trainer,
        # verl 0.9's default), cachetools (the rollout router), fastapi + uvicorn (the reward-model
        # router of an in-cluster judge). Ranges as verl 0.9.1's verl-core states them.
        "verl": ["verl>=0.9,<0.10", "qwen-vl-utils", "TransferQueue>=0.1.10,<0.2", "cachetools", "fastapi", "uvicorn"],
        "demo": ["matplotlib"],
        # cachetools/fastapi/uvicorn: imported by verl's legacy trainer module, whose static
        # RayPPOTrainer._write_generations writes the rollout dumps the report tests read
        "test": ["pytest>=8", "pytest-asyncio>=0.23", "pytest-timeout", "cachetools", "fastapi", "uvicorn"],
    },
    entry_points={
        "console_scripts": ["wethink-verl=wethink_verl.cli:main"],
        # imported by `import verl` (verl>=0.9) in every process, Ray workers included
        "verl.plugins": ["wethink=wethink_verl.integrations.verl_plugin"],
    },
    classifiers=["Programming Language :: Python :: 3", "License :: OSI Approved :: Apache Software License"],
)
