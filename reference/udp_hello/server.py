"""Reference server for the UDP "Hello World!" lab.

Run it first:   python server.py [PORT]      (default port 12345)
then start the client on your partner's computer (or this one) with this computer's IP address.
UDP has no connections: the server waits for one datagram (the client's request) and sends its
reply to the address that datagram came from.
"""
import socket
import sys

PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 12345  # any unreserved port, 1024-65535

# 1. Create a UDP socket (SOCK_DGRAM) and bind it to the port, on every network interface ("").
#    No listen() and no accept(): a UDP socket receives datagrams from anyone.
server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
server.bind(("", PORT))
print("Waiting for a request...")

# 2. Wait for a datagram. recvfrom() returns its bytes and the address of the sender.
request, address = server.recvfrom(1024)
print("Request received from", address)

# 3. Reply to the sender's address. Sockets carry bytes, so encode the text first.
server.sendto("Hello World!".encode(), address)
print("Message sent!")

# 4. Close the socket: we answer one request only.
server.close()
