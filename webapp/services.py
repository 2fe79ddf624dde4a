"""The console's services, built once per app and reached through `provide_*` dependencies."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from webapp.accounts import AccountService
from webapp.block_feed import BlockFeed
from webapp.catalog import Catalog
from webapp.chain import Chain
from webapp.datasets import DatasetStore
from webapp.db import open_engine
from webapp.explorer_index import ExplorerIndex
from webapp.market_index import MarketIndex
from webapp.metrics import Metrics
from webapp.outcomes import Outcomes
from webapp.reviews import ReviewService
from webapp.sessions import SessionRegistry
from webapp.settings import Settings
from webapp.verify_job import VerifyJob
from webapp.workflow import Workflow


@dataclass
class Services:
    data_dir: Path
    settings: Settings
    engine: Engine
    chain: Chain
    sessions: SessionRegistry
    accounts: AccountService
    workflow: Workflow
    reviews: ReviewService
    datasets: DatasetStore
    catalog: Catalog
    market: MarketIndex
    explorer: ExplorerIndex
    verifier: VerifyJob
    metrics: Metrics
    outcomes: Outcomes

    @classmethod
    def build(cls, data_dir: Path, network: Any, settings: Settings) -> "Services":
        engine = open_engine(data_dir)
        chain = Chain(network)
        sessions = SessionRegistry(settings.session_ttl_s)
        metrics = Metrics()
        feed = BlockFeed(engine, chain)
        market = MarketIndex(engine, chain, feed)
        explorer = ExplorerIndex(engine, feed)
        workflow = Workflow(engine, chain, settings, market)
        datasets = DatasetStore(data_dir)
        outcomes = Outcomes(engine, chain, settings, workflow, metrics)
        services = cls(
            data_dir=data_dir,
            settings=settings,
            engine=engine,
            chain=chain,
            sessions=sessions,
            accounts=AccountService(engine, chain, settings, sessions),
            workflow=workflow,
            reviews=ReviewService(engine, chain, settings, workflow, metrics, outcomes),
            datasets=datasets,
            catalog=Catalog(engine, chain, datasets, settings, market),
            market=market,
            explorer=explorer,
            verifier=VerifyJob(chain),
            metrics=metrics,
            outcomes=outcomes,
        )
        services.accounts.import_first_admin(data_dir)
        return services
