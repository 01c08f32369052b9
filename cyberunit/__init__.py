"""The analysts' side: case priority now; queue API, console, exports and alerts grow here."""
