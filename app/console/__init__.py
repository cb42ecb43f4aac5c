"""The console: pages a person reads in a browser, over the same JSON APIs clients use.

The pages themselves hold no data and need no key (like /openapi.json): each page's
script sends the key a person pasted, from the browser's session storage, to the
APIs, which decide what that key may see. Nothing here reads a store or runs a turn.
"""
