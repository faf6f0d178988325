import Lantern
print("lantern")
