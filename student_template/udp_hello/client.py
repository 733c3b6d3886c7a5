"""Client for the UDP "Hello World!" lab.  Your name: ______________

Write your code under each step.  Grade it with:   python -m grader client client.py --exercise udp_hello
Run it against your partner's server with:         python client.py
"""
import socket

# Step 1: Create a UDP socket.  Hint: s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
#         (No connect() needed: with UDP every datagram carries the address it goes to.)


# Step 2: Print "Sending request..." to the console.


# Step 3: Send a request datagram to the server's IP address and port (the port the server is
#         bound to, e.g. 12345). Sockets send bytes, not text:
#         s.sendto(b"Hello, server!", ("localhost", 12345))


# Step 4: Print "Waiting for reply..." to the console.


# Step 5: Receive the reply: one datagram, in one call.  data, address = s.recvfrom(1024)
#         Then decode the bytes to text and print it: print(data.decode())


# Step 6: Close the socket.
