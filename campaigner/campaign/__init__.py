"""The campaign file: its format as frozen pydantic models, and the YAML loader that locates every value.

Pure core: reads the campaign file, nothing else.
"""

from campaigner.campaign.load import LoadedCampaign, campaign_files, load_campaign
from campaigner.campaign.spec import Campaign

__all__ = ["Campaign", "LoadedCampaign", "campaign_files", "load_campaign"]
