"""What the conversation side and the analysts' side both use: settings, sealing of addresses, keyed
pseudonyms, delivery results. The import rules (`make lint`) let cyberunit import this package and no
other part of `bot`, so the analysts' side never depends on a channel or on the dialogue."""
